#include "server/completions.h"

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/logprobs_json.h"
#include "server/response_writer.h"
#include "util/utf8.h"

namespace pagellm::server {
namespace {

class CompletionFormat : public ResponseFormat {
 public:
  CompletionFormat(std::string id, std::string model, std::string fingerprint, std::vector<std::string> echo,
                   bool logprobs)
      : id_(std::move(id)),
        model_(std::move(model)),
        fingerprint_(std::move(fingerprint)),
        echo_(std::move(echo)),
        logprobs_(logprobs) {}

  std::vector<Json> stream_chunks(const Choice& c, const RequestOutput& d, bool first) const override {
    std::string text = d.new_text;
    const std::string prefix = first && !echo_.empty() ? echo_[static_cast<size_t>(c.prompt_index)] : "";
    text = prefix + text;
    const bool ends = !d.finish_reason.empty();
    if (text.empty() && !ends && d.new_logprobs.empty()) return {};
    // Offsets of this delta's tokens: where the choice's text stood before it.
    const int64_t offset = char_count(c.text) - char_count(d.new_text) + (echo_.empty() ? 0 : echo_chars(c));
    Json choice = {{"index", c.index},
                   {"text", text},
                   {"logprobs", logprobs_ ? completion_logprobs_json(d.new_logprobs, offset) : Json(nullptr)},
                   {"finish_reason", ends ? Json(d.finish_reason) : Json(nullptr)},
                   {"stop_reason", stop_reason_json(d.stop_reason)}};
    return {envelope(Json::array({choice}))};
  }

  Json final_response(const GenerationGroup& g) const override {
    Json choices = Json::array();
    for (const Choice& c : g.choices())
      choices.push_back(
          {{"index", c.index},
           {"text", (echo_.empty() ? "" : echo_[static_cast<size_t>(c.prompt_index)]) + c.text},
           {"logprobs",
            logprobs_ ? completion_logprobs_json(c.logprobs, echo_.empty() ? 0 : echo_chars(c)) : Json(nullptr)},
           {"finish_reason", c.finish_reason},
           {"stop_reason", stop_reason_json(c.stop_reason)}});
    Json out = envelope(choices);
    out["usage"] = usage_json(g);
    return out;
  }

  Json usage_chunk(const GenerationGroup& g) const override {
    Json out = envelope(Json::array());
    out["usage"] = usage_json(g);
    return out;
  }

 private:
  static int64_t char_count(const std::string& s) { return static_cast<int64_t>(utf8_length(s)); }
  int64_t echo_chars(const Choice& c) const { return char_count(echo_[static_cast<size_t>(c.prompt_index)]); }
  Json envelope(Json choices) const {
    return Json{{"id", id_},       {"object", "text_completion"},        {"created", unix_time()},
                {"model", model_}, {"system_fingerprint", fingerprint_}, {"choices", std::move(choices)}};
  }

  std::string id_, model_, fingerprint_;
  std::vector<std::string> echo_;  // prompt texts when echo is on
  bool logprobs_;
};

// OpenAI accepts a string, a list of strings, a list of ids, or a list of id lists.
std::vector<std::vector<int32_t>> parse_prompts(const ServerContext& ctx, const Json& body,
                                                std::vector<std::string>& texts) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad_request("'prompt' is required", "prompt");
  const Json& p = *it;
  std::vector<std::vector<int32_t>> prompts;
  auto add_text = [&](const std::string& s) {
    texts.push_back(s);
    prompts.push_back(ctx.tokenizer->encode(s, true));
  };
  auto add_ids = [&](const Json& ids) {
    std::vector<int32_t> v;
    for (const Json& id : ids) {
      if (!id.is_number_integer()) bad_request("'prompt' token ids must be integers", "prompt");
      const int64_t x = id.get<int64_t>();
      if (x < 0 || x >= ctx.tokenizer->vocab_size())
        bad_request(
            fmt::format("token id {} in 'prompt' is out of vocabulary (size {})", x, ctx.tokenizer->vocab_size()),
            "prompt");
      v.push_back(static_cast<int32_t>(x));
    }
    if (v.empty()) bad_request("'prompt' must not be an empty list of token ids", "prompt");
    texts.push_back(ctx.tokenizer->decode(v, false));
    prompts.push_back(std::move(v));
  };
  if (p.is_string()) {
    add_text(p.get<std::string>());
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    add_ids(p);
  } else if (p.is_array() && !p.empty()) {
    for (const Json& item : p) {
      if (item.is_string())
        add_text(item.get<std::string>());
      else if (item.is_array())
        add_ids(item);
      else
        bad_request("'prompt' must be a string, a list of strings, a list of token ids or a list of those", "prompt");
    }
  } else {
    bad_request("'prompt' must be a non-empty string, list of strings, list of token ids or list of those", "prompt");
  }
  return prompts;
}

}  // namespace

void check_context_length(const ServerContext& ctx, int64_t prompt_tokens, int64_t max_tokens, const char* where) {
  const int64_t limit = ctx.max_model_len();
  if (prompt_tokens + max_tokens > limit)
    bad_request(fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens ({} in "
                            "the {}, {} in the completion). Please reduce the length of the {} or completion.",
                            limit, prompt_tokens + max_tokens, prompt_tokens, where, max_tokens, where),
                "max_tokens");
}

void handle_completions(const ServerContext& ctx, const Json& body, const std::string& request_id,
                        httplib::Response& res) {
  const std::string& model = ctx.resolve_model(string_field(body, "model"));
  if (auto suffix = string_field(body, "suffix"); suffix && !suffix->empty())
    bad_request("'suffix' is not supported", "suffix");
  const std::optional<int64_t> logprobs = int_field(body, "logprobs");
  const bool stream = bool_field(body, "stream").value_or(false);
  const Json* options = object_field(body, "stream_options");
  const bool include_usage = stream && options && bool_field(*options, "include_usage").value_or(false);
  const bool echo = bool_field(body, "echo").value_or(false);
  const int64_t priority = int_field(body, "priority").value_or(0);

  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> prompts = parse_prompts(ctx, body, texts);
  const SamplingParams params =
      parse_sampling_params(body, ctx.sampling_defaults, int_field(body, "max_tokens").value_or(16));
  for (const auto& p : prompts) check_context_length(ctx, static_cast<int64_t>(p.size()), params.max_tokens, "prompt");
  // Beam search streams fine: its n best beams come once the search ends (as vLLM sends them).
  if (stream && params.num_sequences() > params.n && !params.use_beam_search)
    bad_request("'best_of' greater than 'n' cannot be streamed", "best_of");

  auto group = std::make_shared<GenerationGroup>(*ctx.engine, request_id);
  group->submit(prompts, params, priority);
  auto format = std::make_shared<CompletionFormat>(request_id, model, ctx.system_fingerprint(),
                                                   echo ? texts : std::vector<std::string>{}, logprobs.has_value());
  send_generation(res, group, format, stream, include_usage);
}

}  // namespace pagellm::server
