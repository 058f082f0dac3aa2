#include "model/weight_store.h"

#include "util/error.h"

namespace pagellm {

void WeightStore::add(const std::string& name, const TensorView& view) { views_.insert_or_assign(name, view); }

void WeightStore::add_mapped_file(std::shared_ptr<const MappedFile> file) { files_.push_back(std::move(file)); }

size_t WeightStore::release_source_pages(const TensorView& view) const {
  const auto bytes = static_cast<size_t>(view.nbytes());
  for (const auto& file : files_)
    if (file->contains(view.data, bytes)) return file->release_pages(view.data, bytes);
  return 0;
}

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
