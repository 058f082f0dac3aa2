#pragma once
// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the data. Tensors are viewed in place through an mmap.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loader/mapped_file.h"
#include "tensor/tensor_view.h"

namespace pagellm {

class SafetensorsFile {
 public:
  // Validates the header fully: size within the file, offsets in range, no overlaps,
  // byte length matching dtype x shape, known dtypes (F32/F16/BF16). Errors name file and tensor.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::shared_ptr<MappedFile> file() const { return file_; }

 private:
  SafetensorsFile() = default;
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All safetensors of an HF model directory: model.safetensors, or the shards listed by
// model.safetensors.index.json (every shard opened once; a tensor listed in the index but
// missing from its shard, or present in two shards, is an error).
std::vector<std::shared_ptr<SafetensorsFile>> open_safetensors_dir(const std::string& dir);

}  // namespace pagellm
