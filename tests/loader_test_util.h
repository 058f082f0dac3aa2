#pragma once
// Helpers for loader tests: a temp directory removed at scope exit, whole-file read/write,
// and a GGUF writer for hand-built files (every field explicit, so tests can corrupt any).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/convert.h"
#include "tensor/tensor_view.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm::test {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("pagellm-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Little-endian encodings of GGUF values.
template <typename T>
std::string le(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
inline std::string gguf_str(const std::string& s) { return le<uint64_t>(s.size()) + s; }
// An array value's payload: element type, count, then the encoded elements.
inline std::string gguf_array(uint32_t elem_type, uint64_t count, const std::string& elements) {
  return le<uint32_t>(elem_type) + le<uint64_t>(count) + elements;
}

class GgufWriter {
 public:
  uint32_t version = 3;
  uint64_t alignment = 32;  // used to place tensor data; write general.alignment yourself to change it

  // `value` is the encoded value (without its type).
  GgufWriter& kv(const std::string& key, uint32_t type, const std::string& value) {
    kvs_ += gguf_str(key) + le<uint32_t>(type) + value;
    ++kv_count_;
    return *this;
  }
  // ne in GGUF order (innermost first). offset: -1 = next aligned position.
  GgufWriter& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t ggml_type, const std::string& data,
                     int64_t offset = -1) {
    uint64_t at = offset >= 0 ? static_cast<uint64_t>(offset) : (data_.size() + alignment - 1) / alignment * alignment;
    infos_ += gguf_str(name) + le<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) infos_ += le<uint64_t>(d);
    infos_ += le<uint32_t>(ggml_type) + le<uint64_t>(at);
    if (data_.size() < at + data.size()) data_.resize(at + data.size(), '\0');
    std::memcpy(data_.data() + at, data.data(), data.size());
    ++tensor_count_;
    return *this;
  }
  std::string header() const {
    return std::string("GGUF") + le<uint32_t>(version) + le<uint64_t>(tensor_count_) + le<uint64_t>(kv_count_) + kvs_ +
           infos_;
  }
  std::string build() const {
    std::string out = header();
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    return out + data_;
  }

 private:
  std::string kvs_, infos_, data_;
  uint64_t kv_count_ = 0, tensor_count_ = 0;
};

inline std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// Expects `fn` to throw pagellm::Error with `code` whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, std::vector<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

// A tiny-random fixture's directory, and one of its GGUF files ("f32", "bf16", "q8_0", ...).
inline std::string tiny_random_dir(const std::string& variant) {
  return shared_dir() + "/models/tiny-random/" + variant;
}
inline std::string tiny_random_gguf(const std::string& variant, const std::string& type) {
  return tiny_random_dir(variant) + "/" + variant + "-" + type + ".gguf";
}

inline std::vector<float> dequantize(const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  dequantize_row(v.dtype, v.data, out.data(), v.numel());
  return out;
}

}  // namespace pagellm::test
