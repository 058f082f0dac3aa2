#include "model/compute_dtype.h"

#include "kernels/cpu/packed_matmul.h"
#include "util/error.h"

namespace pagellm {

ComputeDType parse_compute_dtype(std::string_view name) {
  if (name == "auto") return ComputeDType::kAuto;
  if (name == "float32" || name == "float") return ComputeDType::kFloat32;
  if (name == "bfloat16") return ComputeDType::kBFloat16;
  if (name == "int8") return ComputeDType::kInt8;
  if (name == "float16" || name == "half")
    fail(ErrorCode::kInvalidArgument, "--dtype {}: float16 compute is not supported on CPU (use bfloat16 or float32)",
         name);
  fail(ErrorCode::kInvalidArgument, "--dtype must be auto, float32, bfloat16 or int8, not '{}'", name);
}

const char* compute_dtype_name(ComputeDType dtype) {
  switch (dtype) {
    case ComputeDType::kAuto:
      return "auto";
    case ComputeDType::kFloat32:
      return "float32";
    case ComputeDType::kBFloat16:
      return "bfloat16";
    case ComputeDType::kInt8:
      return "int8";
  }
  return "?";
}

const char* matmul_precision_name(kernels::MatmulPrecision precision) {
  switch (precision) {
    case kernels::MatmulPrecision::kExact:
      return "float32";
    case kernels::MatmulPrecision::kBF16:
      return "bfloat16";
    case kernels::MatmulPrecision::kInt8:
      return "int8";
  }
  return "?";
}

kernels::MatmulPrecision resolve_matmul_precision(ComputeDType dtype, const LoadedModel& model) {
  switch (dtype) {
    case ComputeDType::kFloat32:
      return kernels::MatmulPrecision::kExact;
    case ComputeDType::kBFloat16:
      return kernels::MatmulPrecision::kBF16;
    case ComputeDType::kInt8:
      return kernels::MatmulPrecision::kInt8;
    case ComputeDType::kAuto:
      break;
  }
  // The first layer's query projection stands for the model's linear weights.
  const TensorView* q = model.weights.find("model.layers.0.self_attn.q_proj.weight");
  const bool bf16_weights = q && q->dtype == DType::kBF16;
  // Q8_0 (and the low-bit types re-quantized to it at load) in int8, as llama.cpp computes them,
  // where the AVX-512 VNNI tiles run: there they beat float32 at every batch size measured
  // (prefill 1.4-2.7x, 16 sequences 1.1-1.4x, one stream 0.96-2.2x; docs/perf/int8.md, session
  // 19). The AVX2 tiles win one-stream decode only, and lose prefill and batches, so not there.
  if (q && q->dtype == DType::kQ8_0 && kernels::cpu_has_avx512_vnni()) return kernels::MatmulPrecision::kInt8;
  // AVX512-BF16 (vdpbf16ps) doubles the float32 FMA rate (AMX far more): bf16 pays off for
  // prefill and batches, and one bf16 weight pair per lane costs decode nothing extra.
  return bf16_weights && kernels::cpu_has_avx512_bf16() ? kernels::MatmulPrecision::kBF16
                                                        : kernels::MatmulPrecision::kExact;
}

}  // namespace pagellm
