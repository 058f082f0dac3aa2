#include "model/llama_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/fused.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/stream_read.h"
#include "kernels/cpu/thread_pool.h"
#include "model/rope_frequencies.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace pagellm {
namespace {

std::vector<float> to_floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(t.dtype, t.row(r), out.data() + r * t.cols(), t.cols());
  return out;
}

std::vector<float> optional_floats(const WeightStore& w, const std::string& name) {
  const TensorView* t = w.find(name);
  return t ? to_floats(*t) : std::vector<float>{};
}

void add_in_place(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

kernels::MatmulPrecision precision_from_env() {
  const char* v = std::getenv("PAGELLM_MATMUL");
  if (!v || std::strcmp(v, "exact") == 0 || *v == 0) return kernels::MatmulPrecision::kExact;
  if (std::strcmp(v, "bf16") == 0) return kernels::MatmulPrecision::kBF16;
  if (std::strcmp(v, "int8") == 0) return kernels::MatmulPrecision::kInt8;
  fail(ErrorCode::kInvalidArgument, "PAGELLM_MATMUL must be exact, bf16 or int8, not '{}'", v);
}

const float* bias_or_null(const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); }

template <class T>
void grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

}  // namespace

LlamaModel::Linear::Linear(std::span<const kernels::LinearPart> parts, kernels::MatmulPrecision precision,
                           WeightArena* arena, bool code, kernels::Epilogue epilogue) {
  if (epilogue != kernels::Epilogue::kNone && parts.size() == 2 && parts[0].weight->dtype == parts[1].weight->dtype) {
    groups_.emplace_back(parts, precision, arena, code, epilogue);
    return;
  }
  // Consecutive parts with one dtype share a PackedWeight (a GGUF may mix Q8_0 and F16).
  size_t begin = 0;
  for (size_t i = 1; i <= parts.size(); ++i)
    if (i == parts.size() || parts[i].weight->dtype != parts[begin].weight->dtype) {
      groups_.emplace_back(parts.subspan(begin, i - begin), precision, arena, code);
      begin = i;
    }
}

template <class X>
void LlamaModel::Linear::forward_groups(X x, int64_t m, std::span<float* const> ys, const Linear& next) const {
  size_t first = 0;
  for (size_t i = 0; i < groups_.size(); ++i) {
    const kernels::PackedWeight& g = groups_[i];
    const kernels::PackedWeight* after = i + 1 < groups_.size() ? &groups_[i + 1]
                                         : next.groups_.empty() ? nullptr
                                                                : &next.groups_.front();
    g.forward(x, m, ys.subspan(first, g.num_outputs()), after);
    first += g.num_outputs();
  }
}

bool LlamaModel::Linear::takes_bf16_rows() const {
  return !groups_.empty() && std::all_of(groups_.begin(), groups_.end(),
                                         [](const kernels::PackedWeight& g) { return g.takes_bf16_rows(); });
}

void LlamaModel::Linear::forward(const float* x, int64_t m, std::span<float* const> ys, const Linear& next) const {
  forward_groups(x, m, ys, next);
}

void LlamaModel::Linear::forward(kernels::Bf16Rows x, int64_t m, std::span<float* const> ys, const Linear& next) const {
  forward_groups(x, m, ys, next);
}

void LlamaModel::Linear::forward_gated(kernels::Bf16Rows x, int64_t m, uint32_t* y, int64_t ld_y,
                                       const Linear& next) const {
  groups_.front().forward(x, m, y, ld_y, next.groups_.empty() ? nullptr : &next.groups_.front());
}

LlamaModel::LlamaModel(std::shared_ptr<const LoadedModel> loaded)
    : LlamaModel(std::move(loaded), precision_from_env()) {}

LlamaModel::LlamaModel(std::shared_ptr<const LoadedModel> loaded, kernels::MatmulPrecision precision, bool code_weights)
    : loaded_(std::move(loaded)), precision_(precision), code_weights_(code_weights) {
  if (ForwardProfile::enabled_from_env()) profile_ = std::make_unique<ForwardProfile>();
  const WeightStore& w = loaded_->weights;
  const ModelConfig& c = loaded_->config;
  embed_tokens_ = &w.get("model.embed_tokens.weight");
  lm_head_ = w.find("lm_head.weight");
  if (!lm_head_) lm_head_ = embed_tokens_;
  final_norm_ = to_floats(w.get("model.norm.weight"));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights lw{&w.get(p + "self_attn.q_proj.weight"),
                    &w.get(p + "self_attn.k_proj.weight"),
                    &w.get(p + "self_attn.v_proj.weight"),
                    &w.get(p + "self_attn.o_proj.weight"),
                    &w.get(p + "mlp.gate_proj.weight"),
                    &w.get(p + "mlp.up_proj.weight"),
                    &w.get(p + "mlp.down_proj.weight"),
                    to_floats(w.get(p + "input_layernorm.weight")),
                    to_floats(w.get(p + "post_attention_layernorm.weight")),
                    optional_floats(w, p + "self_attn.q_proj.bias"),
                    optional_floats(w, p + "self_attn.k_proj.bias"),
                    optional_floats(w, p + "self_attn.v_proj.bias"),
                    optional_floats(w, p + "self_attn.q_norm.weight"),
                    optional_floats(w, p + "self_attn.k_norm.weight"),
                    {},
                    {},
                    {},
                    {}};
    const kernels::LinearPart qkv[] = {{lw.q_proj, bias_or_null(lw.q_bias)},
                                       {lw.k_proj, bias_or_null(lw.k_bias)},
                                       {lw.v_proj, bias_or_null(lw.v_bias)}};
    const kernels::LinearPart gate_up[] = {{lw.gate_proj, nullptr}, {lw.up_proj, nullptr}};
    const kernels::LinearPart o[] = {{lw.o_proj, nullptr}}, down[] = {{lw.down_proj, nullptr}};
    lw.qkv = Linear(qkv, precision_, &arena_, code_weights_);
    lw.gate_up = Linear(gate_up, precision_, &arena_, code_weights_, kernels::Epilogue::kSiluMul);
    lw.o = Linear(o, precision_, &arena_, code_weights_);
    lw.down = Linear(down, precision_, &arena_, code_weights_);
    // The forward pass reads only the packed copies: let the mapped source pages go, layer by
    // layer, so peak RSS holds one layer's source at a time instead of the whole file.
    lw.release_sources(w);
    layers_.push_back(std::move(lw));
  }
  const kernels::LinearPart head[] = {{lm_head_, nullptr}};
  lm_head_packed_ = Linear(head, precision_, &arena_, code_weights_);
  // Tied embeddings keep their pages: lookups read the table in place (map_embedding_rows).
  map_embedding_rows();
  // The LM head's source, and the layers' once more now that packing and the embedding table's
  // mapping have read their last byte: each read faulted in the cached pages around it (the
  // kernel's fault-around), some released already.
  for (const LayerWeights& lw : layers_) lw.release_sources(w);
  if (lm_head_ != embed_tokens_) w.release_source_pages(*lm_head_);
  inv_freq_ = rope_inverse_frequencies(c);
  scratch_use_ = scratch_use();
}

LlamaModel::ScratchUse LlamaModel::scratch_use() const {
  ScratchUse u;
  for (const LayerWeights& lw : layers_) {
    for (const Linear* w : {&lw.qkv, &lw.gate_up}) (w->takes_bf16_rows() ? u.h_bf16 : u.h_float) = true;
    (lw.gate_as_bf16() ? u.gate_bf16 : u.gate_float) = true;
    u.up = u.up || !lw.gate_up.silu_fused();
  }
  return u;
}

// The token-embedding table is read in place (a mapped file, or a dequantized copy). Its pages are
// touched once here so that a decode step never waits on a page fault for a token it has not seen:
// with random token ids a 110M decode step spent 64 us (1.7 %) on that. Memory: the table's pages
// (55 MiB for the 0.5B) are mapped from the start instead of as tokens appear; serving with random
// prompts had paged in nearly all of them anyway (docs/perf/memory.md).
bool LlamaModel::weights_coded() const { return lm_head_packed_.groups().front().coded(); }

void LlamaModel::map_embedding_rows() const {
  const auto* bytes = static_cast<const volatile uint8_t*>(embed_tokens_->data);
  const auto size = static_cast<size_t>(embed_tokens_->nbytes());
  for (size_t off = 0; off < size; off += 4096) (void)bytes[off];  // volatile: each read happens
  if (size > 0) (void)bytes[size - 1];
}

void LlamaModel::LayerWeights::release_sources(const WeightStore& w) const {
  for (const TensorView* t : {q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj})
    w.release_source_pages(*t);
}

LlamaModel::WeightRead LlamaModel::read_weights() const {
  std::vector<std::span<const uint8_t>> spans;
  auto add = [&](const Linear& l) {
    for (const kernels::PackedWeight& g : l.groups()) spans.push_back(g.packed_bytes());
  };
  for (const LayerWeights& lw : layers_)
    for (const Linear* l : {&lw.qkv, &lw.o, &lw.gate_up, &lw.down}) add(*l);
  add(lm_head_packed_);
  WeightRead r;
  for (std::span<const uint8_t> s : spans) r.bytes += static_cast<int64_t>(s.size());
  const auto start = std::chrono::steady_clock::now();
  const uint64_t sink = kernels::xor_words_parallel(spans);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile uint64_t keep = sink;
  (void)keep;
  return r;
}

void LlamaModel::check_batch(const ForwardBatch& batch, const KVCache& cache) const {
  const int64_t n = batch.num_tokens();
  if (static_cast<int64_t>(batch.positions.size()) != n || static_cast<int64_t>(batch.slot_mapping.size()) != n)
    fail(ErrorCode::kInternal, "forward batch: {} tokens but {} positions and {} slots", n, batch.positions.size(),
         batch.slot_mapping.size());
  for (int32_t id : batch.token_ids)
    if (id < 0 || id >= config().vocab_size)
      fail(ErrorCode::kInvalidArgument, "token id {} is out of range for vocabulary size {}", id, config().vocab_size);
  for (int64_t slot : batch.slot_mapping)
    if (slot < 0 || slot >= cache.num_slots()) fail(ErrorCode::kInternal, "KV slot {} out of range", slot);
  for (const BatchSequence& s : batch.sequences)
    for (int32_t b : s.block_table)
      if (b < 0 || b >= cache.num_blocks()) fail(ErrorCode::kInternal, "block {} out of range", b);
  for (int64_t i : batch.logits_indices)
    if (i < 0 || i >= n) fail(ErrorCode::kInternal, "logits index {} out of range", i);
}

std::optional<ForwardProfile> LlamaModel::profile() const {
  std::lock_guard<std::mutex> lock(scratch_mutex_);
  if (!profile_) return std::nullopt;
  return *profile_;
}

void LlamaModel::reset_profile() const {
  std::lock_guard<std::mutex> lock(scratch_mutex_);
  if (profile_) profile_->reset();
}

std::vector<float> LlamaModel::forward(const ForwardBatch& batch, KVCache& cache) const {
  check_batch(batch, cache);
  const ModelConfig& c = config();
  const int64_t T = batch.num_tokens();
  const int64_t H = c.hidden_size;
  const int64_t q_dim = c.num_heads * c.head_dim;
  const int64_t kv_dim = c.num_kv_heads * c.head_dim;
  const int64_t F = c.intermediate_size;

  std::lock_guard<std::mutex> lock(scratch_mutex_);
  ForwardProfile* prof = profile_.get();
  using Part = ForwardProfile::Part;
  auto lap = [prof](Part part) {
    if (prof) prof->lap(part);
  };
  if (prof) {
    bool decode = true;
    for (const BatchSequence& s : batch.sequences) decode = decode && s.num_queries == 1;
    prof->begin_step(decode, T);
  }
  Scratch& sc = scratch_;
  // Only the buffers some layer uses (scratch_use_): SiLU-gated layers need no `up`, and projections
  // that compute in bf16 read h and gate as bf16 rows, stored so by the step before.
  const ScratchUse& use = scratch_use_;
  for (auto [buf, n] : {std::pair{&sc.x, T * H},
                        {&sc.h, use.h_float ? T * H : 0},
                        {&sc.q, T * q_dim},
                        {&sc.k, T * kv_dim},
                        {&sc.v, T * kv_dim},
                        {&sc.attn, T * q_dim},
                        {&sc.proj, T * H},
                        {&sc.gate, use.gate_float ? T * F : 0},
                        {&sc.up, use.up ? T * F : 0}})
    grow(*buf, n);
  const int64_t h_pairs = (H + 1) / 2, gate_pairs = (F + 1) / 2;
  for (auto [buf, n] :
       {std::pair{&sc.h_bf16, use.h_bf16 ? T * h_pairs : 0}, {&sc.gate_bf16, use.gate_bf16 ? T * gate_pairs : 0}})
    grow(*buf, n);
  uint32_t *h_bf16 = sc.h_bf16.data(), *gate_bf16 = sc.gate_bf16.data();
  float *x = sc.x.data(), *h = sc.h.data(), *q = sc.q.data(), *k = sc.k.data(), *v = sc.v.data(),
        *attn = sc.attn.data(), *proj = sc.proj.data(), *gate = sc.gate.data(), *up = sc.up.data();
  // Row-wise steps below run on both cores for prefill-sized batches (kernels::parallel_for_rows);
  // each row's arithmetic is the same however the rows are split.
  using kernels::parallel_for_rows;
  parallel_for_rows(T, H, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      dequantize_row(embed_tokens_->dtype, embed_tokens_->row(batch.token_ids[t]), x + t * H, H);
  });

  sc.seqs.clear();
  for (const BatchSequence& s : batch.sequences)
    sc.seqs.push_back({s.query_start, s.num_queries, s.context_len, s.block_table.data()});
  const kernels::AttentionShape shape{c.num_heads, c.num_kv_heads, c.head_dim,
                                      static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)))};

  // RoPE angles once per token for all layers.
  const int64_t half = c.head_dim / 2;
  grow(sc.rope_cos, T * half);
  grow(sc.rope_sin, T * half);
  constexpr int64_t kTrigCost = 16;  // a double sin + cos against an element-wise float op
  parallel_for_rows(T, half * kTrigCost, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      kernels::rope_cos_sin(batch.positions[t], inv_freq_.data(), half, sc.rope_cos.data() + t * half,
                            sc.rope_sin.data() + t * half);
  });
  // The residual add and the norm for the projection `next`: into h, or into h_bf16 when `next`
  // takes bf16 rows.
  auto add_norm_rows = [&](const float* delta, const std::vector<float>& weight, const Linear& next) {
    const bool bf16 = next.takes_bf16_rows();
    parallel_for_rows(T, H, [&](int64_t t0, int64_t t1) {
      if (bf16)
        kernels::add_rms_norm_bf16(x + t0 * H, delta + t0 * H, weight.data(), t1 - t0, H, c.rms_norm_eps,
                                   h_bf16 + t0 * h_pairs, h_pairs);
      else
        kernels::add_rms_norm(x + t0 * H, delta + t0 * H, weight.data(), t1 - t0, H, c.rms_norm_eps, h + t0 * H);
    });
  };
  // A projection of the normed rows, from whichever form add_norm_rows stored.
  auto project_h = [&](const Linear& w, std::span<float* const> ys, const Linear& next) {
    if (w.takes_bf16_rows())
      w.forward(kernels::Bf16Rows{h_bf16, h_pairs}, T, ys, next);
    else
      w.forward(h, T, ys, next);
  };

  const bool first_bf16 = !layers_.empty() && layers_.front().qkv.takes_bf16_rows();
  parallel_for_rows(T, H, [&](int64_t t0, int64_t t1) {
    if (first_bf16)
      kernels::rms_norm_fast_bf16(x + t0 * H, layers_[0].input_norm.data(), t1 - t0, H, c.rms_norm_eps,
                                  h_bf16 + t0 * h_pairs, h_pairs);
    else
      kernels::rms_norm_fast(x + t0 * H, layers_[0].input_norm.data(), t1 - t0, H, c.rms_norm_eps, h + t0 * H);
  });
  lap(Part::kEmbed);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& lw = layers_[static_cast<size_t>(l)];
    const kernels::KVLayerView kv = cache.layer(l);

    float* const qkv_out[] = {q, k, v};
    project_h(lw.qkv, qkv_out, lw.o);
    lap(Part::kQkv);
    if (!lw.q_norm.empty()) {
      kernels::rms_norm_fast(q, lw.q_norm.data(), T * c.num_heads, c.head_dim, c.rms_norm_eps, q);
      kernels::rms_norm_fast(k, lw.k_norm.data(), T * c.num_kv_heads, c.head_dim, c.rms_norm_eps, k);
    }
    parallel_for_rows(T, q_dim + 2 * kv_dim, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {  // every token has its own slot
        const float* cs = sc.rope_cos.data() + t * half;
        const float* sn = sc.rope_sin.data() + t * half;
        kernels::rope_rotate_half_cs(q + t * q_dim, c.num_heads, c.head_dim, cs, sn);
        kernels::rope_rotate_half_cs(k + t * kv_dim, c.num_kv_heads, c.head_dim, cs, sn);
        kernels::write_kv_slot(kv, batch.slot_mapping[t], k + t * kv_dim, v + t * kv_dim);
      }
    });
    lap(Part::kRope);
    kernels::paged_attention_batch(shape, q, sc.seqs.data(), static_cast<int64_t>(sc.seqs.size()), kv, attn);
    lap(Part::kAttention);
    lw.o.forward(attn, T, proj, lw.gate_up);
    lap(Part::kOProj);
    add_norm_rows(proj, lw.post_attention_norm, lw.gate_up);
    lap(Part::kNorm);

    const Linear& after_down = l + 1 < c.num_layers ? layers_[static_cast<size_t>(l + 1)].qkv : lm_head_packed_;
    // gate = silu(gate) * up, stored by the projection itself; in bf16 rows when both it and the
    // down projection work in bf16.
    const bool gate_as_bf16 = lw.gate_as_bf16();
    if (gate_as_bf16) {
      lw.gate_up.forward_gated(kernels::Bf16Rows{h_bf16, h_pairs}, T, gate_bf16, gate_pairs, lw.down);
      lap(Part::kGateUp);
    } else if (lw.gate_up.silu_fused()) {
      project_h(lw.gate_up, std::span<float* const>(&gate, 1), lw.down);
      lap(Part::kGateUp);
    } else {
      float* const gate_up_out[] = {gate, up};
      project_h(lw.gate_up, gate_up_out, lw.down);
      lap(Part::kGateUp);
      parallel_for_rows(T, F, [&](int64_t t0, int64_t t1) {
        kernels::silu_mul_fast(gate + t0 * F, up + t0 * F, (t1 - t0) * F, gate + t0 * F);
      });
      lap(Part::kSiluMul);
    }
    if (gate_as_bf16)
      lw.down.forward(kernels::Bf16Rows{gate_bf16, gate_pairs}, T, proj, after_down);
    else
      lw.down.forward(gate, T, proj, after_down);
    lap(Part::kDown);
    if (l + 1 < c.num_layers)  // the residual add fused with the next layer's input norm
      add_norm_rows(proj, layers_[static_cast<size_t>(l + 1)].input_norm, after_down);
    else
      add_in_place(x, proj, T * H);
    lap(Part::kNorm);
  }

  const auto n_logits = static_cast<int64_t>(batch.logits_indices.size());
  grow(sc.last, n_logits * H);
  float* last = sc.last.data();
  for (int64_t i = 0; i < n_logits; ++i)
    kernels::rms_norm_fast(x + batch.logits_indices[i] * H, final_norm_.data(), 1, H, c.rms_norm_eps, last + i * H);
  std::vector<float> logits(static_cast<size_t>(n_logits * c.vocab_size));
  lm_head_packed_.forward(last, n_logits, logits.data(), layers_.empty() ? lm_head_packed_ : layers_.front().qkv);
  if (prof) {
    lap(Part::kLmHead);
    prof->end_step();
  }
  return logits;
}

}  // namespace pagellm
