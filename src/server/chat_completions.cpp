#include "server/chat_completions.h"

#include "server/api_error.h"
#include "server/chat_prompt.h"
#include "server/completions.h"
#include "server/json_fields.h"
#include "server/logprobs_json.h"
#include "server/response_writer.h"

namespace pagellm::server {
namespace {

class ChatFormat : public ResponseFormat {
 public:
  ChatFormat(std::string id, std::string model, std::string fingerprint, std::optional<int64_t> top_logprobs,
             bool tokens_as_ids, bool prompt_logprobs)
      : id_(std::move(id)),
        model_(std::move(model)),
        fingerprint_(std::move(fingerprint)),
        top_logprobs_(top_logprobs),
        tokens_as_ids_(tokens_as_ids),
        prompt_logprobs_(prompt_logprobs) {}

  // The role first, then content deltas, then an empty delta carrying finish_reason.
  std::vector<Json> stream_chunks(const GenerationGroup&, const Choice& c, const RequestOutput& d,
                                  bool first) const override {
    std::vector<Json> chunks;
    if (first) chunks.push_back(chunk(c.index, {{"role", "assistant"}, {"content", ""}}, nullptr));
    if (!d.new_text.empty() || (top_logprobs_ && !d.new_logprobs.empty())) {
      Json content = chunk(c.index, {{"content", d.new_text}}, nullptr);
      if (top_logprobs_)
        content["choices"][0]["logprobs"] = chat_logprobs_json(d.new_logprobs, *top_logprobs_, tokens_as_ids_);
      chunks.push_back(std::move(content));
    }
    if (!d.finish_reason.empty()) {
      Json last = chunk(c.index, Json::object(), d.finish_reason);
      last["choices"][0]["stop_reason"] = stop_reason_json(d.stop_reason);
      chunks.push_back(std::move(last));
    }
    return chunks;
  }

  Json final_response(const GenerationGroup& g) const override {
    Json choices = Json::array();
    for (const Choice& c : g.choices())
      choices.push_back(
          {{"index", c.index},
           {"message", {{"role", "assistant"}, {"content", c.text}, {"tool_calls", Json::array()}}},
           {"logprobs", top_logprobs_ ? chat_logprobs_json(c.logprobs, *top_logprobs_, tokens_as_ids_) : Json(nullptr)},
           {"finish_reason", c.finish_reason},
           {"stop_reason", stop_reason_json(c.stop_reason)}});
    Json out = envelope("chat.completion", choices);
    out["usage"] = usage_json(g);
    // vLLM's extension: the prompt's logprobs at the top level, when prompt_logprobs was asked.
    if (prompt_logprobs_)
      out["prompt_logprobs"] = g.prompt_logprobs(0) ? prompt_logprobs_json(*g.prompt_logprobs(0)) : Json(nullptr);
    return out;
  }

  Json usage_chunk(const GenerationGroup& g) const override {
    Json out = envelope("chat.completion.chunk", Json::array());
    out["usage"] = usage_json(g);
    return out;
  }

 private:
  Json chunk(int64_t index, Json delta, Json finish_reason) const {
    return envelope("chat.completion.chunk", Json::array({Json{{"index", index},
                                                               {"delta", std::move(delta)},
                                                               {"logprobs", nullptr},
                                                               {"finish_reason", std::move(finish_reason)}}}));
  }
  Json envelope(const char* object, Json choices) const {
    return Json{{"id", id_},
                {"object", object},
                {"created", unix_time()},
                {"model", model_},
                {"system_fingerprint", fingerprint_},
                {"choices", std::move(choices)}};
  }

  std::string id_, model_, fingerprint_;
  std::optional<int64_t> top_logprobs_;  // set when logprobs were asked for
  bool tokens_as_ids_;                   // vLLM's return_tokens_as_token_ids
  bool prompt_logprobs_;
};

}  // namespace

void handle_chat_completions(const ServerContext& ctx, const Json& body, const std::string& request_id,
                             httplib::Response& res) {
  const std::string& model = ctx.resolve_model(string_field(body, "model"));
  const bool want_logprobs = bool_field(body, "logprobs").value_or(false);
  const std::optional<int64_t> top_logprobs = int_field(body, "top_logprobs");
  if (top_logprobs && !want_logprobs) bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  if (top_logprobs && (*top_logprobs < 0 || *top_logprobs > ctx.sampling_defaults.max_logprobs))
    bad_request(fmt::format("top_logprobs must be between 0 and {} (--max-logprobs), got {}",
                            ctx.sampling_defaults.max_logprobs, *top_logprobs),
                "top_logprobs");
  const bool stream = bool_field(body, "stream").value_or(false);
  const Json* options = object_field(body, "stream_options");
  const bool include_usage = stream && options && bool_field(*options, "include_usage").value_or(false);
  const int64_t priority = int_field(body, "priority").value_or(0);
  if (const Json* tool_choice = body.contains("tool_choice") ? &body["tool_choice"] : nullptr;
      tool_choice && !tool_choice->is_null() &&
      !(tool_choice->is_string() && (*tool_choice == "none" || *tool_choice == "auto")))
    bad_request("only tool_choice 'none' and 'auto' are supported (no forced tool calls)", "tool_choice");

  auto it = body.find("messages");
  if (it == body.end()) bad_request("'messages' is required", "messages");
  const std::string prompt_text = render_chat_prompt(ctx, *it, chat_prompt_options(body));
  // The template already wrote BOS and other specials (vLLM: add_special_tokens=false for chat).
  const bool add_special = bool_field(body, "add_special_tokens").value_or(false);
  std::vector<int32_t> prompt = ctx.tokenizer->encode(prompt_text, add_special);
  if (prompt.empty()) bad_request("the rendered chat prompt is empty", "messages");

  std::optional<int64_t> max_tokens = int_field(body, "max_completion_tokens");
  if (!max_tokens) max_tokens = int_field(body, "max_tokens");
  const auto prompt_len = static_cast<int64_t>(prompt.size());
  const SamplingParams params = parse_sampling_params(
      body, ctx.sampling_defaults, max_tokens.value_or(std::max<int64_t>(1, ctx.max_model_len() - prompt_len)));
  check_context_length(ctx, prompt_len, params.max_tokens, "messages");
  // Beam search streams fine: its n best beams come once the search ends (as vLLM sends them).
  if (stream && params.num_sequences() > params.n && !params.use_beam_search)
    bad_request("'best_of' greater than 'n' cannot be streamed", "best_of");

  auto group = std::make_shared<GenerationGroup>(*ctx.engine, request_id);
  group->submit({prompt}, params, priority);
  send_generation(
      ctx, res, group,
      std::make_shared<ChatFormat>(request_id, model, ctx.system_fingerprint(),
                                   want_logprobs ? std::optional<int64_t>(top_logprobs.value_or(0)) : std::nullopt,
                                   bool_field(body, "return_tokens_as_token_ids").value_or(false),
                                   params.prompt_logprobs.has_value()),
      stream, include_usage);
}

}  // namespace pagellm::server
