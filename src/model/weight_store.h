#pragma once
// Weights by canonical (Hugging Face) name, whatever file they came from:
//   model.embed_tokens.weight [vocab, hidden]     lm_head.weight [vocab, hidden] (absent if tied)
//   model.norm.weight [hidden]
//   model.layers.{i}.input_layernorm.weight, post_attention_layernorm.weight [hidden]
//   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight [out, in], {q,k,v}_proj.bias (Qwen2)
//   model.layers.{i}.self_attn.{q,k}_norm.weight [head_dim] (Qwen3)
//   model.layers.{i}.mlp.{gate,up,down}_proj.weight [out, in]
// Q/K rows are always in HF (rotate-half) order; GGUF's interleaved order is undone at load.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loader/mapped_file.h"
#include "tensor/aligned_buffer.h"
#include "tensor/tensor_view.h"

namespace pagellm {

class WeightStore {
 public:
  void add(const std::string& name, const TensorView& view);
  // Keeps an mmap or buffer alive as long as the store (views point into it).
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
  // Keeps a mapped file alive and remembers it, so views into it can release their pages.
  void add_mapped_file(std::shared_ptr<const MappedFile> file);
  // Once a tensor's data has been copied (packed for the kernels, un-permuted), its pages in the
  // mapped file need not stay resident: drops them (they page back in if read again, so every
  // view stays valid). A make_released_buffer() buffer is freed; other owned buffers are left
  // alone. Returns the bytes released.
  size_t release_source_pages(const TensorView& view) const;
  size_t release_source_bytes(const uint8_t* data, size_t bytes) const;
  // Allocates an owned buffer (e.g. for un-permuted rows) that lives as long as the store.
  AlignedBuffer& make_buffer(size_t bytes);
  // An owned buffer for data read only until it is packed (low-bit GGUF weights converted to Q8_0):
  // release_source_pages of a view starting at it frees it, and get() of such a view then fails (a
  // second model built from the same LoadedModel must load the file again).
  AlignedBuffer& make_released_buffer(size_t bytes);

  const TensorView* find(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // throws Error(kInvalidModel) "missing tensor NAME"
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  const std::map<std::string, TensorView>& all() const { return views_; }

 private:
  mutable std::map<std::string, TensorView> views_;  // release_source_pages nulls the data of freed views
  std::vector<std::shared_ptr<const void>> owners_;
  std::vector<std::shared_ptr<const MappedFile>> files_;
  std::vector<std::unique_ptr<AlignedBuffer>> buffers_;
  mutable std::vector<std::unique_ptr<AlignedBuffer>> released_buffers_;
};

}  // namespace pagellm
