#include "tensor/dtype.h"

#include "util/error.h"

namespace pagellm {

const DTypeInfo& dtype_info(DType t) {
  static const DTypeInfo kInfos[] = {
      {"F32", 1, 4}, {"F16", 1, 2}, {"BF16", 1, 2}, {"Q8_0", 32, 34}, {"I32", 1, 4},
  };
  auto index = static_cast<size_t>(t);
  if (index >= sizeof(kInfos) / sizeof(kInfos[0])) fail(ErrorCode::kInternal, "bad dtype {}", index);
  return kInfos[index];
}

int64_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  return n / info.block_elems * info.block_bytes;
}

}  // namespace pagellm
