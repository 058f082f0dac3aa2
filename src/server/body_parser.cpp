#include "server/body_parser.h"

#include "server/api_error.h"

namespace pagellm::server {
namespace {

// Deepest [ / { nesting outside strings; stops early once past the limit.
int nesting_depth(const std::string& s, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Json parse_request_body(const std::string& body, int max_depth) {
  if (body.empty()) bad_request("the request body is empty; expected a JSON object");
  if (nesting_depth(body, max_depth) > max_depth)
    bad_request(fmt::format("the request body nests deeper than {} levels", max_depth));
  Json j;
  try {
    j = Json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    bad_request(fmt::format("the request body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) bad_request("the request body must be a JSON object");
  return j;
}

}  // namespace pagellm::server
