#include "model/weight_store.h"

#include "util/error.h"

namespace pagellm {

void WeightStore::add(const std::string& name, const TensorView& view) { views_.insert_or_assign(name, view); }

void WeightStore::add_mapped_file(std::shared_ptr<const MappedFile> file) { files_.push_back(std::move(file)); }

size_t WeightStore::release_source_pages(const TensorView& view) const {
  return release_source_bytes(view.data, static_cast<size_t>(view.nbytes()));
}

size_t WeightStore::release_source_bytes(const uint8_t* data, size_t bytes) const {
  for (auto& buffer : released_buffers_) {
    if (buffer && buffer->data() == data) {
      const size_t freed = buffer->size();
      buffer.reset();
      for (auto& [name, view] : views_)
        if (view.data == data) view.data = nullptr;
      return freed;
    }
  }
  for (const auto& file : files_)
    if (file->contains(data, bytes)) return file->release_pages(data, bytes);
  return 0;
}

AlignedBuffer& WeightStore::make_buffer(size_t bytes) {
  buffers_.push_back(std::make_unique<AlignedBuffer>(bytes));
  return *buffers_.back();
}

AlignedBuffer& WeightStore::make_released_buffer(size_t bytes) {
  released_buffers_.push_back(std::make_unique<AlignedBuffer>(bytes));
  return *released_buffers_.back();
}

const TensorView* WeightStore::find(const std::string& name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

const TensorView& WeightStore::get(const std::string& name) const {
  const TensorView* v = find(name);
  if (!v) fail(ErrorCode::kInvalidModel, "missing tensor {}", name);
  if (!v->data && v->numel() > 0)
    fail(ErrorCode::kInternal, "tensor {} was converted for one model and freed once packed: load the file again",
         name);
  return *v;
}

}  // namespace pagellm
