#pragma once
// A copy of a Q8_0 GGUF whose matrices claim llama.cpp's 32-value low-bit types instead, in turn. Their blocks
// are smaller than Q8_0's, so each tensor's bytes still lie inside its old extent: the loader then decodes and
// re-quantizes whatever those bytes hold. For tests of the low-bit load path without a fixture of its own.
#include <cstdint>
#include <cstring>
#include <string>

#include "loader/gguf.h"
#include "loader_test_util.h"

namespace pagellm::test {

inline std::string as_low_bit_types(const std::string& q8_0_gguf) {
  std::string bytes = read_bytes(q8_0_gguf);
  auto g = GgufFile::open(q8_0_gguf);
  static const uint32_t kTypes[] = {2, 3, 6, 7, 20};  // Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL
  size_t next = 0;
  for (const GgufTensorInfo& t : g->tensors()) {
    if (t.ggml_type != 8) continue;
    std::string key(8, '\0');  // the tensor info starts with its name, length first
    const uint64_t length = t.name.size();
    std::memcpy(key.data(), &length, 8);
    key += t.name;
    const size_t at = bytes.find(key);
    if (at == std::string::npos) continue;
    uint32_t dims;
    std::memcpy(&dims, bytes.data() + at + key.size(), 4);
    const uint32_t type = kTypes[next++ % 5];
    std::memcpy(bytes.data() + at + key.size() + 4 + 8 * dims, &type, 4);
  }
  return bytes;
}

}  // namespace pagellm::test
