#include "model/weight_store.h"

#include "util/error.h"

namespace pagellm {

void WeightStore::add(const std::string& name, const TensorView& view) { views_.insert_or_assign(name, view); }

AlignedBuffer& WeightStore::make_buffer(size_t bytes) {
  buffers_.push_back(std::make_unique<AlignedBuffer>(bytes));
  return *buffers_.back();
}

const TensorView* WeightStore::find(const std::string& name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

const TensorView& WeightStore::get(const std::string& name) const {
  const TensorView* v = find(name);
  if (!v) fail(ErrorCode::kInvalidModel, "missing tensor {}", name);
  return *v;
}

}  // namespace pagellm
