#include "server/completions.h"

#include "server/api_error.h"
#include "server/json_fields.h"
#include "server/logprobs_json.h"
#include "server/response_writer.h"
#include "tokenizer/incremental_detokenizer.h"
#include "util/utf8.h"

namespace pagellm::server {
namespace {

// What a completions response shows besides the generated text.
struct CompletionOptions {
  std::vector<std::string> echo;  // prompt texts when echo is on
  // With echo and logprobs: per prompt, where each prompt token's text starts in the echo.
  std::vector<std::vector<int64_t>> prompt_offsets;
  bool logprobs = false;
  bool echo_only = false;  // echo with max_tokens 0: the prompt alone (vLLM)
  bool tokens_as_ids = false;
  bool prompt_logprobs = false;
};

class CompletionFormat : public ResponseFormat {
 public:
  CompletionFormat(std::string id, std::string model, std::string fingerprint, CompletionOptions options,
                   std::shared_ptr<const Tokenizer> tokenizer)
      : id_(std::move(id)),
        model_(std::move(model)),
        fingerprint_(std::move(fingerprint)),
        o_(std::move(options)),
        tokenizer_(std::move(tokenizer)) {}

  std::vector<Json> stream_chunks(const GenerationGroup& g, const Choice& c, const RequestOutput& d,
                                  bool first) const override {
    const bool echo_now = first && !o_.echo.empty();
    const std::string text = (echo_now ? echo(c) : "") + (o_.echo_only ? "" : d.new_text);
    const bool ends = !d.finish_reason.empty();
    if (text.empty() && !ends && (o_.echo_only || d.new_logprobs.empty()) && !echo_now) return {};
    Json logprobs = nullptr;
    if (o_.logprobs) {
      std::vector<LogprobsEntry> entries;
      if (echo_now) prompt_entries(g, c, entries);
      if (!o_.echo_only) {
        // Offsets are into the whole choice text (vLLM streams them so too).
        const int64_t base = o_.echo.empty() ? 0 : echo_chars(c);
        for (size_t k = 0; k < d.new_logprobs.size(); ++k)
          entries.push_back({d.new_logprobs[k].front().first, &d.new_logprobs[k], "",
                             base + (k < d.new_text_offsets.size() ? d.new_text_offsets[k] : 0)});
      }
      logprobs = completion_logprobs_json(entries, o_.tokens_as_ids);
    }
    Json choice = {{"index", c.index},
                   {"text", text},
                   {"logprobs", std::move(logprobs)},
                   {"finish_reason", ends ? Json(d.finish_reason) : Json(nullptr)},
                   {"stop_reason", stop_reason_json(d.stop_reason)}};
    return {envelope(Json::array({choice}))};
  }

  Json final_response(const GenerationGroup& g) const override {
    Json choices = Json::array();
    for (const Choice& c : g.choices()) {
      Json logprobs = nullptr;
      if (o_.logprobs) {
        std::vector<LogprobsEntry> entries;
        if (!o_.echo.empty()) prompt_entries(g, c, entries);
        if (!o_.echo_only) {
          const int64_t base = o_.echo.empty() ? 0 : echo_chars(c);
          const auto length = static_cast<int64_t>(utf8_length(c.text));
          for (size_t k = 0; k < c.logprobs.size(); ++k) {
            // A token after a stop string's cut starts where the text ends.
            const int64_t at = k < c.text_offsets.size() ? std::min(c.text_offsets[k], length) : length;
            entries.push_back({c.logprobs[k].front().first, &c.logprobs[k], "", base + at});
          }
        }
        logprobs = completion_logprobs_json(entries, o_.tokens_as_ids);
      }
      Json choice = {{"index", c.index},
                     {"text", (o_.echo.empty() ? "" : echo(c)) + (o_.echo_only ? "" : c.text)},
                     {"logprobs", std::move(logprobs)},
                     {"finish_reason", c.finish_reason},
                     {"stop_reason", stop_reason_json(c.stop_reason)}};
      if (o_.prompt_logprobs)
        choice["prompt_logprobs"] = g.prompt_logprobs(c.prompt_index)
                                        ? prompt_logprobs_json(*g.prompt_logprobs(c.prompt_index))
                                        : Json(nullptr);
      choices.push_back(std::move(choice));
    }
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
  const std::string& echo(const Choice& c) const { return o_.echo[static_cast<size_t>(c.prompt_index)]; }
  int64_t echo_chars(const Choice& c) const { return static_cast<int64_t>(utf8_length(echo(c))); }
  // The prompt's tokens (echo with logprobs): the first without logprobs, as vLLM sends them.
  void prompt_entries(const GenerationGroup& g, const Choice& c, std::vector<LogprobsEntry>& entries) const {
    const std::vector<int32_t>& ids = g.prompt_ids(c.prompt_index);
    const auto& lps = g.prompt_logprobs(c.prompt_index);
    const std::vector<int64_t>& offsets = o_.prompt_offsets[static_cast<size_t>(c.prompt_index)];
    for (size_t i = 0; i < ids.size(); ++i) {
      const PositionLogprobs* lp = lps && i < lps->size() && (*lps)[i] ? &*(*lps)[i] : nullptr;
      entries.push_back({ids[i], lp, lp ? "" : tokenizer_->decode_token(ids[i]), offsets[i]});
    }
  }
  Json envelope(Json choices) const {
    return Json{{"id", id_},       {"object", "text_completion"},        {"created", unix_time()},
                {"model", model_}, {"system_fingerprint", fingerprint_}, {"choices", std::move(choices)}};
  }

  std::string id_, model_, fingerprint_;
  CompletionOptions o_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

// Where each prompt token's text starts in the echoed prompt (characters): the prompt decoded
// token by token, special tokens skipped for a text prompt (its echo is the text as sent) and
// kept for token ids (their echo is their decode), clamped to the echo's length.
std::vector<int64_t> prompt_text_offsets(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool from_text,
                                         const std::string& echo) {
  IncrementalDetokenizer detok(tokenizer, {}, from_text);
  const auto length = static_cast<int64_t>(utf8_length(echo));
  std::vector<int64_t> offsets;
  int64_t chars = 0;
  for (int32_t id : ids) {
    offsets.push_back(std::min(chars, length));
    chars += static_cast<int64_t>(utf8_length(detok.add(id)));
  }
  return offsets;
}

// OpenAI accepts a string, a list of strings, a list of ids, or a list of id lists.
std::vector<std::vector<int32_t>> parse_prompts(const ServerContext& ctx, const Json& body,
                                                std::vector<std::string>& texts, std::vector<bool>& from_text) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad_request("'prompt' is required", "prompt");
  const Json& p = *it;
  std::vector<std::vector<int32_t>> prompts;
  auto add_text = [&](const std::string& s) {
    texts.push_back(s);
    from_text.push_back(true);
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
    from_text.push_back(false);
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
  const std::optional<int64_t> max_tokens = int_field(body, "max_tokens");
  // vLLM: echo with max_tokens 0 returns the prompt alone (scoring a text); one token is run.
  const bool echo_only = echo && max_tokens == 0;

  std::vector<std::string> texts;
  std::vector<bool> from_text;
  std::vector<std::vector<int32_t>> prompts = parse_prompts(ctx, body, texts, from_text);
  SamplingParams params = parse_sampling_params(body, ctx.sampling_defaults, echo_only ? 1 : max_tokens.value_or(16));
  // With echo, logprobs covers the prompt's tokens too (vLLM asks for prompt_logprobs then).
  const bool explicit_prompt_logprobs = params.prompt_logprobs.has_value();
  if (echo && logprobs && !params.prompt_logprobs) params.prompt_logprobs = logprobs;
  for (const auto& p : prompts) check_context_length(ctx, static_cast<int64_t>(p.size()), params.max_tokens, "prompt");
  // Beam search streams fine: its n best beams come once the search ends (as vLLM sends them).
  if (stream && params.num_sequences() > params.n && !params.use_beam_search)
    bad_request("'best_of' greater than 'n' cannot be streamed", "best_of");

  CompletionOptions o;
  o.logprobs = logprobs.has_value();
  o.echo_only = echo_only;
  o.tokens_as_ids = bool_field(body, "return_tokens_as_token_ids").value_or(false);
  o.prompt_logprobs = explicit_prompt_logprobs;
  if (echo) {
    o.echo = texts;
    if (o.logprobs)
      for (size_t p = 0; p < prompts.size(); ++p)
        o.prompt_offsets.push_back(prompt_text_offsets(*ctx.tokenizer, prompts[p], from_text[p], texts[p]));
  }
  auto group = std::make_shared<GenerationGroup>(*ctx.engine, request_id);
  group->submit(prompts, params, priority);
  send_generation(
      ctx, res, group,
      std::make_shared<CompletionFormat>(request_id, model, ctx.system_fingerprint(), std::move(o), ctx.tokenizer),
      stream, include_usage);
}

}  // namespace pagellm::server
