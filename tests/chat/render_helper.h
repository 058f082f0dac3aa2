#pragma once
// Shared helpers for the chat template unit tests: render a template string against a JSON context.
#include <string>

#include "chat/chat_template.h"
#include "util/json_file.h"

namespace pagellm::test {

inline std::tm frozen_clock() {  // 2024-07-26 00:00:00, a Friday: what the goldens were rendered with
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_wday = 5;
  t.tm_yday = 207;
  return t;
}

// Renders `source` with `ctx` keys as variables: messages/tools/add_generation_prompt/bos_token/eos_token go to
// their fields, anything else to extra_context.
inline std::string render(const std::string& source, const Json& ctx = Json::object()) {
  ChatTemplate t(source);
  t.set_clock(frozen_clock);
  ChatTemplateInputs in;
  for (const auto& [k, v] : ctx.items()) {
    if (k == "messages")
      in.messages = v;
    else if (k == "tools")
      in.tools = v;
    else if (k == "add_generation_prompt")
      in.add_generation_prompt = v.get<bool>();
    else if (k == "bos_token")
      in.bos_token = v.get<std::string>();
    else if (k == "eos_token")
      in.eos_token = v.get<std::string>();
    else
      in.extra_context[k] = v;
  }
  return t.render(in);
}

// The message of the Error that rendering (or parsing) throws; "" if it renders.
inline std::string render_error(const std::string& source, const Json& ctx = Json::object()) {
  try {
    render(source, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace pagellm::test
