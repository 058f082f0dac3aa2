#pragma once
// The element type of the paged KV cache (`--kv-cache-dtype`, as vLLM names it).
//   auto:     the projections' compute precision: bfloat16 when they compute in bf16 (vLLM's `auto`
//             keeps a BF16 model's cache in bf16), float32 otherwise;
//   bfloat16: half the bytes per token, so twice the tokens per GiB and half the K/V a decode step
//             reads; keys and values are rounded to bf16 as they are written;
//   float32:  keys and values exactly as computed.
#include <string_view>

#include "kernels/cpu/kv_layout.h"
#include "kernels/cpu/packed_matmul.h"

namespace pagellm {

enum class KVCacheDType { kAuto, kFloat32, kBFloat16 };

// "auto", "float32" (or "float"), "bfloat16"; anything else (fp8 included) throws
// kInvalidArgument naming --kv-cache-dtype.
KVCacheDType parse_kv_cache_dtype(std::string_view name);

// The element type `dtype` means for projections computing at `precision`.
kernels::KVDType resolve_kv_dtype(KVCacheDType dtype, kernels::MatmulPrecision precision);
const char* kv_dtype_name(kernels::KVDType dtype);

}  // namespace pagellm
