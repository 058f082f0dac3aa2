#pragma once
// The precision the projections compute in (`--dtype`, as vLLM names it). The weights stay as
// stored; this decides how float32 activations meet them.
//   auto:     bfloat16 for BF16 weights on a CPU with AVX512-BF16 (what vLLM's `auto` and llama.cpp do
//             for BF16 models: twice the batched throughput, AMX far more), float32 otherwise;
//   bfloat16: activations rounded to bf16 at each projection (AMX tiles, else vdpbf16ps);
//   float32:  float32 activations and accumulation at the weights' own precision (the most exact);
//   int8:     Q8_0 weights meet activations quantized to int8 in blocks of 32, as llama.cpp computes
//             them (integer dot products); other weights as float32.
#include <string_view>

#include "kernels/cpu/packed_matmul.h"
#include "model/model_loader.h"

namespace pagellm {

enum class ComputeDType { kAuto, kFloat32, kBFloat16, kInt8 };

// "auto", "float32" (or "float"), "bfloat16", "int8"; anything else throws kInvalidArgument naming --dtype.
ComputeDType parse_compute_dtype(std::string_view name);
const char* compute_dtype_name(ComputeDType dtype);

// The --dtype name of a precision: "float32", "bfloat16" or "int8".
const char* matmul_precision_name(kernels::MatmulPrecision precision);

// The matmul precision `dtype` means for this model on this CPU.
kernels::MatmulPrecision resolve_matmul_precision(ComputeDType dtype, const LoadedModel& model);

}  // namespace pagellm
