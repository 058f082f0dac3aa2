#include "server/chat_prompt.h"

#include "server/api_error.h"
#include "server/json_fields.h"

namespace pagellm::server {
namespace {

// OpenAI content: a string, null, or a list of parts of which only text is supported here.
Json normalize_content(const Json& content, size_t index) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array())
    bad_request(fmt::format("messages[{}].content must be a string or a list of content parts", index), "messages");
  std::string text;
  bool first = true;
  for (const Json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      bad_request(fmt::format("messages[{}].content parts must be objects with a 'type'", index), "messages");
    const std::string type = part["type"].get<std::string>();
    if (type != "text")
      bad_request(fmt::format("messages[{}].content part type '{}' is not supported (text only)", index, type),
                  "messages");
    if (!part.contains("text") || !part["text"].is_string())
      bad_request(fmt::format("messages[{}].content text part needs a string 'text'", index), "messages");
    text += (first ? "" : "\n") + part["text"].get<std::string>();
    first = false;
  }
  return text;
}

Json normalize_messages(const Json& messages) {
  if (!messages.is_array() || messages.empty()) bad_request("'messages' must be a non-empty array", "messages");
  Json out = Json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    if (!m.is_object()) bad_request(fmt::format("messages[{}] must be an object", i), "messages");
    if (!m.contains("role") || !m["role"].is_string())
      bad_request(fmt::format("messages[{}].role must be a string", i), "messages");
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "developer")
      bad_request(fmt::format("messages[{}].role '{}' is not one of system, user, assistant, tool, developer", i, role),
                  "messages");
    Json copy = m;
    copy["content"] = normalize_content(m.contains("content") ? m["content"] : Json(nullptr), i);
    if (copy.contains("tool_calls") && copy["tool_calls"].is_array()) {
      for (Json& call : copy["tool_calls"]) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
        Json& fn = call["function"];
        // Templates index into the arguments; clients send them as a JSON string.
        if (fn.contains("arguments") && fn["arguments"].is_string()) {
          try {
            fn["arguments"] = Json::parse(fn["arguments"].get<std::string>());
          } catch (const nlohmann::json::exception&) {
            bad_request(fmt::format("messages[{}].tool_calls: function.arguments is not valid JSON", i), "messages");
          }
        }
      }
    }
    out.push_back(std::move(copy));
  }
  return out;
}

}  // namespace

ChatPromptOptions chat_prompt_options(const Json& body) {
  ChatPromptOptions o;
  o.continue_final_message = bool_field(body, "continue_final_message").value_or(false);
  o.add_generation_prompt = bool_field(body, "add_generation_prompt").value_or(!o.continue_final_message);
  if (o.continue_final_message && o.add_generation_prompt)
    bad_request("'continue_final_message' and 'add_generation_prompt' cannot both be true", "continue_final_message");
  if (const Json* tools = array_field(body, "tools")) o.tools = *tools;
  if (const Json* kwargs = object_field(body, "chat_template_kwargs")) o.template_kwargs = *kwargs;
  return o;
}

std::string render_chat_prompt(const ServerContext& ctx, const Json& messages, const ChatPromptOptions& o) {
  if (!ctx.chat_template)
    bad_request("this model has no chat template; start the server with --chat-template FILE", "messages");
  ChatTemplateInputs in;
  in.messages = normalize_messages(messages);
  in.tools = o.tools;
  in.add_generation_prompt = o.add_generation_prompt;
  in.bos_token = ctx.tokenizer->bos_token();
  in.eos_token = ctx.tokenizer->eos_token();
  if (o.template_kwargs.is_object()) in.extra_context = o.template_kwargs;
  std::string prompt;
  try {
    prompt = ctx.chat_template->render(in);
  } catch (const Error& e) {
    bad_request(fmt::format("chat template error: {}", e.what()), "messages");
  }
  if (o.continue_final_message) {
    const Json& last = in.messages.back();
    std::string final_text = last["content"].is_string() ? last["content"].get<std::string>() : "";
    const size_t b = final_text.find_first_not_of(" \t\n\r");
    const size_t e = final_text.find_last_not_of(" \t\n\r");
    final_text = b == std::string::npos ? "" : final_text.substr(b, e - b + 1);
    const size_t at = final_text.empty() ? std::string::npos : prompt.rfind(final_text);
    if (at == std::string::npos)
      bad_request("continue_final_message is set but the final message does not appear in the rendered chat",
                  "continue_final_message");
    prompt.resize(at + final_text.size());  // cut the template's end-of-turn after the final message
  }
  return prompt;
}

}  // namespace pagellm::server
