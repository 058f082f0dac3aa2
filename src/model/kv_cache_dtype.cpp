#include "model/kv_cache_dtype.h"

#include "util/error.h"

namespace pagellm {

KVCacheDType parse_kv_cache_dtype(std::string_view name) {
  if (name == "auto") return KVCacheDType::kAuto;
  if (name == "float32" || name == "float") return KVCacheDType::kFloat32;
  if (name == "bfloat16") return KVCacheDType::kBFloat16;
  fail(ErrorCode::kInvalidArgument, "--kv-cache-dtype must be auto, float32 or bfloat16, not '{}'", name);
}

kernels::KVDType resolve_kv_dtype(KVCacheDType dtype, kernels::MatmulPrecision precision) {
  switch (dtype) {
    case KVCacheDType::kFloat32:
      return kernels::KVDType::kFloat32;
    case KVCacheDType::kBFloat16:
      return kernels::KVDType::kBFloat16;
    case KVCacheDType::kAuto:
      break;
  }
  return precision == kernels::MatmulPrecision::kBF16 ? kernels::KVDType::kBFloat16 : kernels::KVDType::kFloat32;
}

const char* kv_dtype_name(kernels::KVDType dtype) {
  return dtype == kernels::KVDType::kBFloat16 ? "bfloat16" : "float32";
}

}  // namespace pagellm
