#pragma once
// Element types of weights and activations. Quantized types are stored in blocks of
// `block_elems` values taking `block_bytes` bytes; a row must hold whole blocks.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pagellm {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kI32 };

struct DTypeInfo {
  std::string_view name;
  int64_t block_elems;
  int64_t block_bytes;
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }

// Bytes taken by `n` consecutive elements; n must be a multiple of the block size
// (callers validate shapes before calling, see TensorView::validate).
int64_t dtype_row_bytes(DType t, int64_t n);

// Q8_0: 32 int8 values sharing one fp16 scale (llama.cpp's layout).
struct BlockQ8_0 {
  uint16_t scale_f16;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

}  // namespace pagellm
