#include "loader/gguf.h"

#include <cstring>

#include "loader/ggml_quants.h"
#include "util/error.h"

namespace pagellm {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are surely corrupt
constexpr uint32_t kMaxDims = 4;

// Bounds-checked little-endian reader over the mapped file; `what` names the item being read
// so truncation errors say where the file ended.
class Reader {
 public:
  Reader(const std::string& path, const uint8_t* data, uint64_t size) : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  std::string read_string(const std::string& what) {
    uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail(ErrorCode::kInvalidModel, "{}: {}: string length {} at offset {} runs past the end of the file ({} bytes)",
           path_, what, len, pos_ - 8, size_);
    const uint8_t* p = take(len, what);
    return std::string(reinterpret_cast<const char*>(p), len);
  }

 private:
  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > remaining())
      fail(ErrorCode::kInvalidModel, "{}: truncated: {} at offset {} needs {} bytes, file has {}", path_, what, pos_, n,
           size_);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

bool is_integer_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}
bool is_float_type(GgufValueType t) { return t == GgufValueType::kFloat32 || t == GgufValueType::kFloat64; }
bool is_numeric_type(GgufValueType t) { return is_integer_type(t) || is_float_type(t) || t == GgufValueType::kBool; }

// Smallest encoding of one element, to bound array counts by the bytes left before allocating.
uint64_t min_value_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kString:
      return 8;
    case GgufValueType::kArray:
      return 12;
    default:
      return 8;
  }
}

const char* value_type_name(GgufValueType t) {
  static const char* kNames[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                 "bool",  "string", "array",  "uint64", "int64",  "float64"};
  auto i = static_cast<uint32_t>(t);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "unknown";
}

class MetadataParser {
 public:
  MetadataParser(const std::string& path, Reader& r) : path_(path), r_(r) {}

  GgufValueType read_type(const std::string& key) {
    uint32_t t = r_.read<uint32_t>(fmt::format("type of key '{}'", key));
    if (t > static_cast<uint32_t>(GgufValueType::kFloat64))
      fail(ErrorCode::kInvalidModel, "{}: key '{}' has unknown value type {}", path_, key, t);
    return static_cast<GgufValueType>(t);
  }

  GgufValue read_value(const std::string& key, GgufValueType type, int depth) {
    GgufValue v;
    v.type = type;
    const std::string what = fmt::format("value of key '{}'", key);
    switch (type) {
      case GgufValueType::kUint8:
        v.i = r_.read<uint8_t>(what);
        break;
      case GgufValueType::kInt8:
        v.i = r_.read<int8_t>(what);
        break;
      case GgufValueType::kUint16:
        v.i = r_.read<uint16_t>(what);
        break;
      case GgufValueType::kInt16:
        v.i = r_.read<int16_t>(what);
        break;
      case GgufValueType::kUint32:
        v.i = r_.read<uint32_t>(what);
        break;
      case GgufValueType::kInt32:
        v.i = r_.read<int32_t>(what);
        break;
      case GgufValueType::kInt64:
        v.i = r_.read<int64_t>(what);
        break;
      case GgufValueType::kUint64: {
        uint64_t u = r_.read<uint64_t>(what);
        if (u > static_cast<uint64_t>(INT64_MAX))
          fail(ErrorCode::kInvalidModel, "{}: key '{}': uint64 value {} is out of range", path_, key, u);
        v.i = static_cast<int64_t>(u);
        break;
      }
      case GgufValueType::kFloat32:
        v.f = r_.read<float>(what);
        break;
      case GgufValueType::kFloat64:
        v.f = r_.read<double>(what);
        break;
      case GgufValueType::kBool: {
        uint8_t b = r_.read<uint8_t>(what);
        if (b > 1) fail(ErrorCode::kInvalidModel, "{}: key '{}': bool value {} is neither 0 nor 1", path_, key, b);
        v.i = b;
        break;
      }
      case GgufValueType::kString:
        v.s = r_.read_string(what);
        break;
      case GgufValueType::kArray:
        read_array(key, depth, &v);
        break;
    }
    return v;
  }

 private:
  void read_array(const std::string& key, int depth, GgufValue* v) {
    if (depth >= kMaxArrayDepth)
      fail(ErrorCode::kInvalidModel, "{}: key '{}': arrays nested deeper than {}", path_, key, kMaxArrayDepth);
    v->elem_type = read_type(key);
    uint64_t count = r_.read<uint64_t>(fmt::format("array length of key '{}'", key));
    if (count > r_.remaining() / min_value_bytes(v->elem_type))
      fail(ErrorCode::kInvalidModel, "{}: key '{}': array of {} {} elements cannot fit in the {} bytes left", path_,
           key, count, value_type_name(v->elem_type), r_.remaining());
    if (v->elem_type == GgufValueType::kString) {
      v->strings.reserve(count);
      for (uint64_t k = 0; k < count; ++k)
        v->strings.push_back(r_.read_string(fmt::format("element of key '{}'", key)));
    } else if (v->elem_type == GgufValueType::kArray) {
      v->arrays.reserve(count);
      for (uint64_t k = 0; k < count; ++k) v->arrays.push_back(read_value(key, GgufValueType::kArray, depth + 1));
    } else {
      v->numbers.reserve(count);
      for (uint64_t k = 0; k < count; ++k) {
        GgufValue e = read_value(key, v->elem_type, depth + 1);
        v->numbers.push_back(is_float_type(e.type) ? e.f : static_cast<double>(e.i));
      }
    }
  }

  const std::string& path_;
  Reader& r_;
};

bool ggml_type_to_dtype(uint32_t t, DType* out) {
  switch (t) {
    case 0:
      *out = DType::kF32;
      return true;
    case 1:
      *out = DType::kF16;
      return true;
    case 8:
      *out = DType::kQ8_0;
      return true;
    case 30:
      *out = DType::kBF16;
      return true;
    default:
      return false;
  }
}

std::string ggml_type_name(uint32_t t) {
  static const char* kNames[] = {"F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",
                                 "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
                                 "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
                                 "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16"};
  if (t < sizeof(kNames) / sizeof(kNames[0])) return fmt::format("{} ({})", kNames[t], t);
  return fmt::format("unknown ({})", t);
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// The block size of a tensor's data in the file: its low-bit type's, not the Q8_0 it loads as.
DTypeInfo blocks_in_file(const GgufTensorInfo& info) {
  if (const std::optional<GgmlQuantType> quant = ggml_quant_type(info.ggml_type))
    return {quant->name, quant->block_elems, quant->block_bytes};
  return dtype_info(info.view.dtype);
}

}  // namespace

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::shared_ptr<GgufFile> g(new GgufFile());
  g->file_ = MappedFile::open(path);
  const uint64_t file_size = g->file_->size();
  Reader r(path, g->file_->data(), file_size);

  if (file_size < 4 || r.read<uint32_t>("magic") != kMagic)
    fail(ErrorCode::kInvalidModel, "{}: not a GGUF file (bad magic)", path);
  g->version_ = r.read<uint32_t>("version");
  if (g->version_ == 1) fail(ErrorCode::kUnsupported, "{}: GGUF version 1 is not supported (re-convert to v3)", path);
  if (g->version_ != 2 && g->version_ != 3)
    fail(ErrorCode::kUnsupported, "{}: unknown GGUF version {}", path, g->version_);
  const uint64_t tensor_count = r.read<uint64_t>("tensor count");
  const uint64_t kv_count = r.read<uint64_t>("metadata count");
  // Each key/value takes at least 13 bytes and each tensor info at least 28.
  if (kv_count > r.remaining() / 13)
    fail(ErrorCode::kInvalidModel, "{}: metadata count {} cannot fit in the file", path, kv_count);
  if (tensor_count > r.remaining() / 28)
    fail(ErrorCode::kInvalidModel, "{}: tensor count {} cannot fit in the file", path, tensor_count);

  MetadataParser parser(path, r);
  for (uint64_t k = 0; k < kv_count; ++k) {
    std::string key = r.read_string(fmt::format("key #{}", k));
    GgufValueType type = parser.read_type(key);
    GgufValue value = parser.read_value(key, type, 0);
    if (!g->metadata_.emplace(key, std::move(value)).second)
      fail(ErrorCode::kInvalidModel, "{}: duplicate metadata key '{}'", path, key);
  }

  if (auto alignment = g->get_int("general.alignment")) {
    if (*alignment <= 0 || *alignment > (1 << 30) || (*alignment & (*alignment - 1)) != 0)
      fail(ErrorCode::kInvalidModel, "{}: general.alignment {} is not a positive power of two", path, *alignment);
    g->alignment_ = static_cast<uint64_t>(*alignment);
  }

  g->tensors_.reserve(tensor_count);
  for (uint64_t k = 0; k < tensor_count; ++k) {
    GgufTensorInfo info;
    info.name = r.read_string(fmt::format("name of tensor #{}", k));
    const std::string& name = info.name;
    uint32_t n_dims = r.read<uint32_t>(fmt::format("n_dims of tensor {}", name));
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(ErrorCode::kInvalidModel, "{}: tensor {} has {} dimensions (1..{} allowed)", path, name, n_dims, kMaxDims);
    std::vector<uint64_t> ne(n_dims);
    for (uint64_t& d : ne) d = r.read<uint64_t>(fmt::format("shape of tensor {}", name));
    uint32_t ggml_type = r.read<uint32_t>(fmt::format("type of tensor {}", name));
    info.offset = r.read<uint64_t>(fmt::format("offset of tensor {}", name));

    info.ggml_type = ggml_type;
    if (ggml_quant_type(ggml_type))
      info.view.dtype = DType::kQ8_0;
    else if (!ggml_type_to_dtype(ggml_type, &info.view.dtype))
      fail(ErrorCode::kUnsupported,
           "{}: tensor {} has unsupported ggml type {} (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
           "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)",
           path, name, ggml_type_name(ggml_type));
    const DTypeInfo dt = blocks_in_file(info);
    uint64_t numel = 1;
    for (uint64_t d : ne) {
      if (d == 0 || d > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, d, &numel) ||
          numel > static_cast<uint64_t>(INT64_MAX))
        fail(ErrorCode::kInvalidModel, "{}: tensor {} has an invalid dimension {}", path, name, d);
    }
    if (ne[0] % static_cast<uint64_t>(dt.block_elems) != 0)
      fail(ErrorCode::kInvalidModel, "{}: tensor {}: row length {} is not a multiple of the {} block size {}", path,
           name, ne[0], dt.name, dt.block_elems);
    for (auto it = ne.rbegin(); it != ne.rend(); ++it) info.view.shape.push_back(static_cast<int64_t>(*it));
    if (info.offset % g->alignment_ != 0)
      fail(ErrorCode::kInvalidModel, "{}: tensor {} offset {} is not a multiple of the alignment {}", path, name,
           info.offset, g->alignment_);
    if (!g->tensor_index_.emplace(name, g->tensors_.size()).second)
      fail(ErrorCode::kInvalidModel, "{}: duplicate tensor name {}", path, name);
    g->tensors_.push_back(std::move(info));
  }

  // The data section starts at the next aligned offset after the tensor infos.
  const uint64_t data_start = align_up(r.pos(), g->alignment_);
  for (GgufTensorInfo& info : g->tensors_) {
    const DTypeInfo dt = blocks_in_file(info);
    // numel <= INT64_MAX and block_bytes / block_elems <= 4, so this cannot overflow after the division.
    uint64_t nbytes = static_cast<uint64_t>(info.view.numel()) / dt.block_elems;
    uint64_t end = 0;
    if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(dt.block_bytes), &nbytes) ||
        __builtin_add_overflow(data_start, info.offset, &end) || __builtin_add_overflow(end, nbytes, &end) ||
        end > file_size)
      fail(ErrorCode::kInvalidModel,
           "{}: tensor {} ({} bytes at data offset {}) runs past the end of the file ({} bytes)", path, info.name,
           nbytes, info.offset, file_size);
    const uint8_t* data = g->file_->data() + data_start + info.offset;
    if (ggml_quant_type(info.ggml_type))
      info.quantized = {data, static_cast<size_t>(nbytes)};
    else
      info.view.data = data;
  }
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::kString)
    fail(ErrorCode::kInvalidModel, "{}: key '{}' is {}, expected string", path(), key, value_type_name(v->type));
  return v->s;
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!is_integer_type(v->type) && v->type != GgufValueType::kBool)
    fail(ErrorCode::kInvalidModel, "{}: key '{}' is {}, expected an integer", path(), key, value_type_name(v->type));
  return v->i;
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (is_float_type(v->type)) return v->f;
  if (is_integer_type(v->type)) return static_cast<double>(v->i);
  fail(ErrorCode::kInvalidModel, "{}: key '{}' is {}, expected a number", path(), key, value_type_name(v->type));
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::kBool)
    fail(ErrorCode::kInvalidModel, "{}: key '{}' is {}, expected bool", path(), key, value_type_name(v->type));
  return v->i != 0;
}

const std::vector<std::string>* GgufFile::get_string_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufValueType::kArray || v->elem_type != GgufValueType::kString)
    fail(ErrorCode::kInvalidModel, "{}: key '{}' is not an array of strings", path(), key);
  return &v->strings;
}

const std::vector<double>* GgufFile::get_number_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufValueType::kArray || !is_numeric_type(v->elem_type))
    fail(ErrorCode::kInvalidModel, "{}: key '{}' is not an array of numbers", path(), key);
  return &v->numbers;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace pagellm
