#pragma once
// GGUF v3 (llama.cpp's file format): metadata of every value type, tensor infos, alignment,
// and zero-copy tensor views. Every parse error names the file and the key or tensor.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "loader/mapped_file.h"
#include "tensor/tensor_view.h"

namespace pagellm {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// One metadata value. Scalars use the member matching `type`; arrays hold their elements
// in `strings` (string arrays), `numbers` (any numeric or bool array, as double: exact
// for token ids, types and float32 scores) or `arrays` (arrays of arrays).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  GgufValueType elem_type = GgufValueType::kUint8;  // for arrays
  int64_t i = 0;   // signed and unsigned integers (uint64 above INT64_MAX is an error), bool
  double f = 0.0;  // float32/float64
  std::string s;   // string
  std::vector<std::string> strings;
  std::vector<double> numbers;
  std::vector<GgufValue> arrays;
};

struct GgufTensorInfo {
  std::string name;
  // Shape in row-major outermost-first order (GGUF's ne reversed). A tensor in one of llama.cpp's low-bit
  // formats (loader/ggml_quants.h) is described as the Q8_0 it loads as, with data null: `quantized` holds its
  // bytes in the file, which the model loader converts.
  TensorView view;
  uint64_t offset = 0;  // relative to the data section
  uint32_t ggml_type = 0;
  std::span<const uint8_t> quantized;  // empty unless low-bit
};

class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters: nullopt when absent; Error(kInvalidModel) naming the key on a type mismatch.
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<int64_t> get_int(const std::string& key) const;   // any integer type or bool
  std::optional<double> get_float(const std::string& key) const;  // float or integer types
  std::optional<bool> get_bool(const std::string& key) const;
  const std::vector<std::string>* get_string_array(const std::string& key) const;
  const std::vector<double>* get_number_array(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;

  std::shared_ptr<MappedFile> file() const { return file_; }

 private:
  GgufFile() = default;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace pagellm
