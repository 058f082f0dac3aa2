#include "server/simple_endpoints.h"

#include "pagellm_version.h"
#include "server/api_error.h"
#include "server/chat_prompt.h"
#include "server/json_fields.h"

namespace pagellm::server {

Json models_response(const ServerContext& ctx) {
  Json data = Json::array();
  for (const std::string& name : ctx.config.served_model_names)
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", ctx.created},
                    {"owned_by", "pagellm"},
                    {"root", ctx.model_path},
                    {"parent", nullptr},
                    {"max_model_len", ctx.max_model_len()},
                    {"permission", Json::array()}});
  return Json{{"object", "list"}, {"data", data}};
}

Json tokenize_response(const ServerContext& ctx, const Json& body) {
  ctx.resolve_model(string_field(body, "model"));
  std::vector<int32_t> ids;
  if (body.contains("messages")) {
    const std::string text = render_chat_prompt(ctx, body["messages"], chat_prompt_options(body));
    ids = ctx.tokenizer->encode(text, bool_field(body, "add_special_tokens").value_or(false));
  } else {
    std::optional<std::string> prompt = string_field(body, "prompt");
    if (!prompt) bad_request("'prompt' (a string) or 'messages' is required", "prompt");
    ids = ctx.tokenizer->encode(*prompt, bool_field(body, "add_special_tokens").value_or(true));
  }
  Json strs = nullptr;
  if (bool_field(body, "return_token_strs").value_or(false)) {
    strs = Json::array();
    for (int32_t id : ids) strs.push_back(ctx.tokenizer->id_to_token(id));
  }
  return Json{{"count", ids.size()}, {"max_model_len", ctx.max_model_len()}, {"tokens", ids}, {"token_strs", strs}};
}

Json detokenize_response(const ServerContext& ctx, const Json& body) {
  ctx.resolve_model(string_field(body, "model"));
  if (!body.contains("tokens")) bad_request("'tokens' is required", "tokens");
  std::vector<int32_t> ids = int_list_field(body, "tokens");
  for (int32_t id : ids)
    if (id < 0 || id >= ctx.tokenizer->vocab_size())
      bad_request(fmt::format("token id {} is out of vocabulary (size {})", id, ctx.tokenizer->vocab_size()), "tokens");
  return Json{{"prompt", ctx.tokenizer->decode(ids, false)}};
}

Json version_response() { return Json{{"version", PAGELLM_VERSION}}; }

}  // namespace pagellm::server
