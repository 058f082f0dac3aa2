#include "loader/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "util/error.h"
#include "util/json_file.h"
#include "util/logging.h"

namespace pagellm {
namespace {

struct ByteRange {
  uint64_t begin, end;
  const std::string* name;
};

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32")
    *out = DType::kF32;
  else if (s == "F16")
    *out = DType::kF16;
  else if (s == "BF16")
    *out = DType::kBF16;
  else
    return false;
  return true;
}

// Reads one header entry into `view`, returning its byte range relative to the data section.
ByteRange parse_entry(const std::string& path, const std::string& name, const Json& entry, uint64_t data_bytes,
                      TensorView* view) {
  if (!entry.is_object()) fail(ErrorCode::kInvalidModel, "{}: tensor {}: header entry is not an object", path, name);
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string())
    fail(ErrorCode::kInvalidModel, "{}: tensor {}: missing or non-string dtype", path, name);
  const std::string dtype = dtype_it->get<std::string>();
  if (!parse_dtype(dtype, &view->dtype))
    fail(ErrorCode::kUnsupported, "{}: tensor {} has unsupported dtype {} (supported: F32, F16, BF16)", path, name,
         dtype);

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array())
    fail(ErrorCode::kInvalidModel, "{}: tensor {}: missing or non-array shape", path, name);
  uint64_t numel = 1;
  for (const Json& d : *shape_it) {
    if (!d.is_number_unsigned())
      fail(ErrorCode::kInvalidModel, "{}: tensor {}: shape entries must be non-negative integers", path, name);
    uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX))
      fail(ErrorCode::kInvalidModel, "{}: tensor {}: shape too large", path, name);
    view->shape.push_back(static_cast<int64_t>(dim));
  }

  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
    fail(ErrorCode::kInvalidModel, "{}: tensor {}: data_offsets must be two non-negative integers", path, name);
  ByteRange range{(*offsets_it)[0].get<uint64_t>(), (*offsets_it)[1].get<uint64_t>(), nullptr};
  if (range.begin > range.end || range.end > data_bytes)
    fail(ErrorCode::kInvalidModel, "{}: tensor {}: data_offsets [{}, {}] outside the {} data bytes", path, name,
         range.begin, range.end, data_bytes);
  uint64_t expected = 0;
  auto elem_bytes = static_cast<uint64_t>(dtype_info(view->dtype).block_bytes);
  if (__builtin_mul_overflow(numel, elem_bytes, &expected) || expected != range.end - range.begin)
    fail(ErrorCode::kInvalidModel, "{}: tensor {}: {} bytes for shape {} of {}, expected {}", path, name,
         range.end - range.begin, view->shape_string(), dtype, numel * elem_bytes);
  return range;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> st(new SafetensorsFile());
  st->file_ = MappedFile::open(path);
  const uint8_t* bytes = st->file_->data();
  const uint64_t file_size = st->file_->size();
  if (file_size < 8)
    fail(ErrorCode::kInvalidModel, "{}: too small for a safetensors header ({} bytes)", path, file_size);
  uint64_t header_len;
  std::memcpy(&header_len, bytes, 8);
  if (header_len > file_size - 8)
    fail(ErrorCode::kInvalidModel, "{}: header length {} exceeds the file size {}", path, header_len, file_size);
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  Json header = Json::parse(header_begin, header_begin + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) fail(ErrorCode::kInvalidModel, "{}: header is not valid JSON", path);
  if (!header.is_object()) fail(ErrorCode::kInvalidModel, "{}: header is not a JSON object", path);

  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_bytes = file_size - 8 - header_len;
  std::vector<ByteRange> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(ErrorCode::kInvalidModel, "{}: __metadata__ is not an object", path);
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(ErrorCode::kInvalidModel, "{}: __metadata__ value {} is not a string", path, key);
        st->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    TensorView view;
    ByteRange range = parse_entry(path, name, entry, data_bytes, &view);
    view.data = data + range.begin;
    auto [it, inserted] = st->tensors_.emplace(name, std::move(view));
    if (!inserted) fail(ErrorCode::kInvalidModel, "{}: tensor {} listed twice", path, name);
    range.name = &it->first;
    ranges.push_back(range);
  }

  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const ByteRange* previous = nullptr;
  for (const ByteRange& r : ranges) {
    if (r.begin == r.end) continue;  // empty tensors occupy no bytes
    if (previous && r.begin < previous->end)
      fail(ErrorCode::kInvalidModel, "{}: tensors {} and {} overlap", path, *previous->name, *r.name);
    previous = &r;
  }
  return st;
}

std::vector<std::shared_ptr<SafetensorsFile>> open_safetensors_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(index_path)) {
    const fs::path single = fs::path(dir) / "model.safetensors";
    if (!fs::exists(single))
      fail(ErrorCode::kNotFound, "{}: no model.safetensors or model.safetensors.index.json", dir);
    return {SafetensorsFile::open(single.string())};
  }

  const std::string index_name = index_path.string();
  Json index = read_json_file(index_name);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail(ErrorCode::kInvalidModel, "{}: missing weight_map object", index_name);
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string())
      fail(ErrorCode::kInvalidModel, "{}: weight_map entry for {} is not a string", index_name, tensor);
    const std::string shard_name = shard.get<std::string>();
    // Shards live next to the index; a path would let a model file read elsewhere.
    if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name == "." || shard_name == "..")
      fail(ErrorCode::kInvalidModel, "{}: bad shard file name '{}' for tensor {}", index_name, shard_name, tensor);
    auto it = shards.find(shard_name);
    if (it == shards.end()) {
      const fs::path shard_path = fs::path(dir) / shard_name;
      if (!fs::exists(shard_path))
        fail(ErrorCode::kNotFound, "{}: shard {} (for tensor {}) does not exist", index_name, shard_name, tensor);
      it = shards.emplace(shard_name, SafetensorsFile::open(shard_path.string())).first;
    }
    if (!it->second->tensors().count(tensor))
      fail(ErrorCode::kInvalidModel, "{}: tensor {} is not in its shard {}", index_name, tensor, shard_name);
  }

  std::vector<std::shared_ptr<SafetensorsFile>> files;
  std::set<std::string> seen;
  for (const auto& [shard_name, file] : shards) {
    for (const auto& [tensor, view] : file->tensors()) {
      if (!seen.insert(tensor).second)
        fail(ErrorCode::kInvalidModel, "{}: tensor {} appears in more than one shard (again in {})", index_name, tensor,
             shard_name);
      if (!index["weight_map"].contains(tensor)) log_debug("{}: tensor {} not listed in the index", shard_name, tensor);
    }
    files.push_back(file);
  }
  return files;
}

}  // namespace pagellm
