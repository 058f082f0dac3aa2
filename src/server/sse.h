#pragma once
// Server-sent events as OpenAI streams them: "data: <json>\n\n", ending with "data: [DONE]\n\n".
#include <string>

#include "util/json_file.h"

namespace pagellm::server {

// Invalid UTF-8 (impossible from the detokenizer, but defensive) is replaced, never thrown on.
inline std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
inline std::string sse_event(const Json& j) { return "data: " + dump_json(j) + "\n\n"; }
inline const std::string& sse_done() {
  static const std::string done = "data: [DONE]\n\n";
  return done;
}

}  // namespace pagellm::server
