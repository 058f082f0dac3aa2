#pragma once
// Where tests find ../shared fixtures and the built binary (set by ctest, see cmake/pagellm_layer.cmake).
#include <cstdlib>
#include <string>

namespace pagellm::test {

inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}
inline std::string shared_dir() { return env_or("PAGELLM_SHARED_DIR", "../shared"); }
inline std::string source_dir() { return env_or("PAGELLM_SOURCE_DIR", "."); }
inline std::string pagellm_bin() { return env_or("PAGELLM_BIN", "pagellm"); }

}  // namespace pagellm::test
