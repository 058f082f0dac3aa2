#pragma once
// GGUF -> canonical (HF) weights: tensor names, and the Q/K row order. llama.cpp's converter
// permutes each head's Q/K rows so RoPE can rotate adjacent pairs (2i, 2i+1); HF rotates
// (i, i + head_dim/2). Undoing it keeps one RoPE convention (rotate-half) in the model.
#include <cstdint>
#include <string>

#include "tensor/tensor_view.h"

namespace pagellm {

// "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"; "" for names we do not
// use (rope_freqs.weight is handled by the loader, not stored as a weight).
std::string gguf_to_hf_name(const std::string& gguf_name);

// Writes `src` with its rows (elements, for a vector) in HF order into `dst`
// (src.nbytes() bytes): dst row h*hd + j*hd/2 + i = src row h*hd + 2i + j, hd = rows / n_head.
// Whole rows are copied, so any dtype works. Throws Error(kInvalidModel) if the rows do not
// split into n_head heads of an even size.
void unpermute_qk_rows(const TensorView& src, int64_t n_head, uint8_t* dst, const std::string& what);

}  // namespace pagellm
