#include "server/response_writer.h"

#include <vector>

#include "server/sse.h"

namespace pagellm::server {
namespace {

constexpr std::chrono::milliseconds kPoll(50);

bool write(httplib::DataSink& sink, const std::string& data) { return sink.write(data.data(), data.size()); }

}  // namespace

Json usage_json(const GenerationGroup& group) {
  return Json{{"prompt_tokens", group.prompt_tokens()},
              {"completion_tokens", group.completion_tokens()},
              {"total_tokens", group.prompt_tokens() + group.completion_tokens()},
              {"prompt_tokens_details", {{"cached_tokens", group.cached_tokens()}}}};
}

void send_generation(const ServerContext& ctx, httplib::Response& res, std::shared_ptr<GenerationGroup> group,
                     std::shared_ptr<const ResponseFormat> format, bool stream, bool include_usage) {
  res.status = 200;
  ++ctx.open_responses;
  // Released with the provider callbacks, which httplib destroys once the response is done.
  auto open = std::shared_ptr<void>(nullptr, [&ctx](void*) { --ctx.open_responses; });
  auto release = [group, open](bool success) {
    if (!success) group->abort();
  };
  if (!stream) {
    res.set_chunked_content_provider(
        "application/json",
        [group, format](size_t, httplib::DataSink& sink) {
          while (!group->finished()) {
            group->next(kPoll);
            if (!sink.is_writable()) {
              group->abort();
              return false;
            }
          }
          if (!write(sink, dump_json(format->final_response(*group)))) return false;
          sink.done();
          return true;
        },
        release);
    return;
  }
  auto started = std::make_shared<std::vector<bool>>(group->choices().size(), false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [group, format, started, include_usage](size_t, httplib::DataSink& sink) {
        std::optional<ChoiceDelta> delta = group->next(kPoll);
        if (!sink.is_writable()) {
          group->abort();
          return false;
        }
        if (delta) {
          const Choice& choice = group->choices()[delta->choice];
          const bool first = !(*started)[delta->choice];
          (*started)[delta->choice] = true;
          for (Json& chunk : format->stream_chunks(*group, choice, delta->output, first)) {
            if (include_usage) chunk["usage"] = nullptr;
            if (!write(sink, sse_event(chunk))) return false;
          }
        }
        if (group->finished()) {
          if (include_usage && !write(sink, sse_event(format->usage_chunk(*group)))) return false;
          if (!write(sink, sse_done())) return false;
          sink.done();
        }
        return true;
      },
      release);
}

}  // namespace pagellm::server
