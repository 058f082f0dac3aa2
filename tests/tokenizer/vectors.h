#pragma once
// Shared helpers for the tokenizer vector tests: locating fixtures and formatting id lists.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm::test {

inline std::filesystem::path tokenizers_dir() { return std::filesystem::path(shared_dir()) / "tokenizers"; }

// Every <dir>/expected.json under shared/tokenizers, sorted by name.
inline std::vector<std::filesystem::path> hf_vector_dirs() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(tokenizers_dir()))
    if (e.is_directory() && std::filesystem::exists(e.path() / "expected.json")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

inline std::string ids_str(const std::vector<int32_t>& v) {
  std::string s;
  for (auto id : v) s += std::to_string(id) + " ";
  return s;
}

inline std::vector<int32_t> json_ids(const Json& j) { return j.get<std::vector<int32_t>>(); }

}  // namespace pagellm::test
