#pragma once
// Reading server replies in tests: SSE bodies into events, Prometheus text into values.
#include <string>
#include <vector>

#include "util/json_file.h"

namespace pagellm::test {

// SSE body -> events (the JSON of each data line; "[DONE]" kept as a string).
inline std::vector<Json> sse_events(const std::string& body) {
  std::vector<Json> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string data = body.substr(pos + 6, end - pos - 6);
    out.push_back(data == "[DONE]" ? Json("[DONE]") : Json::parse(data));
    pos = end;
  }
  return out;
}

// The value of the first series of `name` whose labels start with `labels_prefix`, or null.
inline Json metrics_value(const std::string& metrics, const std::string& name, const std::string& labels_prefix = "") {
  const size_t at = metrics.find("\n" + name + "{" + labels_prefix);
  if (at == std::string::npos) return nullptr;
  const size_t sp = metrics.find("} ", at);
  return std::stod(metrics.substr(sp + 2, metrics.find('\n', sp) - sp - 2));
}

}  // namespace pagellm::test
