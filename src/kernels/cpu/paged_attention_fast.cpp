// AVX-512 paged attention (decode, prefill and chunked prefill alike): see paged_attention.h.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/thread_pool.h"

// GCC 12 flags the intentionally undefined source operand inside some AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define PAGELLM_AVX512 PAGELLM_TARGET_AVX512

namespace pagellm::kernels {
namespace {

constexpr int64_t kTile = 16;  // key positions per softmax step

// The query heads q[0..group) (contiguous, head_dim each) of one token at `pos` against keys
// 0..pos of one KV head. scratch: group * (head_dim rounded to 16 + 18) floats.
PAGELLM_AVX512 void attend(const AttentionShape& sh, int64_t group, const float* q, int64_t pos, const int32_t* table,
                           const KVLayerView& kv, int64_t kv_head, float* out, float* scratch) {
  const int64_t hd = sh.head_dim, nv = (hd + 15) / 16, B = kv.block_size;
  const auto tail = static_cast<__mmask16>(hd % 16 ? (1u << (hd % 16)) - 1 : 0xffffu);
  float* acc = scratch;                  // [group][nv * 16]
  float* probs = acc + group * nv * 16;  // [group][16]
  float* mrun = probs + group * 16;      // [group]
  float* lrun = mrun + group;            // [group]
  std::fill(acc, acc + group * nv * 16, 0.0f);
  std::fill(mrun, mrun + group, -INFINITY);
  std::fill(lrun, lrun + group, 0.0f);

  const float* krow[kTile];
  const float* vrow[kTile];
  for (int64_t t0 = 0; t0 <= pos; t0 += kTile) {
    const int nb = static_cast<int>(std::min<int64_t>(kTile, pos + 1 - t0));
    for (int j = 0; j < nb; ++j) {
      const int64_t p = t0 + j;
      const int64_t block = table[p / B];
      krow[j] = kv.key(block, p % B) + kv_head * hd;
      vrow[j] = kv.value(block, p % B) + kv_head * hd;
    }
    // Scores: one dot product per (head, key), lanes over head_dim, a fixed reduction tree.
    for (int j = 0; j < nb; ++j)
      for (int64_t i = 0; i < group; ++i) {
        const float* qi = q + i * hd;
        __m512 d = _mm512_setzero_ps();
        for (int64_t vv = 0; vv < nv; ++vv) {
          const __mmask16 m = vv == nv - 1 ? tail : static_cast<__mmask16>(0xffff);
          d = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qi + vv * 16), _mm512_maskz_loadu_ps(m, krow[j] + vv * 16), d);
        }
        probs[i * 16 + j] = _mm512_reduce_add_ps(d) * sh.scale;
      }
    // Online softmax over the tile, per head.
    const auto valid = static_cast<__mmask16>(nb == 16 ? 0xffffu : (1u << nb) - 1);
    for (int64_t i = 0; i < group; ++i) {
      const __m512 s = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), valid, probs + i * 16);
      const float m_new = std::max(mrun[i], _mm512_reduce_max_ps(s));
      const float corr = std::exp(mrun[i] - m_new);  // 0 on the first tile
      const __m512 p = _mm512_maskz_mov_ps(valid, simd::exp_ps(_mm512_sub_ps(s, _mm512_set1_ps(m_new))));
      lrun[i] = lrun[i] * corr + _mm512_reduce_add_ps(p);
      mrun[i] = m_new;
      _mm512_storeu_ps(probs + i * 16, p);
      // acc = acc * corr + sum_j p_j v_j, keys in order.
      for (int64_t vv = 0; vv < nv; ++vv) {
        const __mmask16 m = vv == nv - 1 ? tail : static_cast<__mmask16>(0xffff);
        __m512 a = _mm512_mul_ps(_mm512_loadu_ps(acc + (i * nv + vv) * 16), _mm512_set1_ps(corr));
        for (int j = 0; j < nb; ++j)
          a = _mm512_fmadd_ps(_mm512_set1_ps(probs[i * 16 + j]), _mm512_maskz_loadu_ps(m, vrow[j] + vv * 16), a);
        _mm512_storeu_ps(acc + (i * nv + vv) * 16, a);
      }
    }
  }
  for (int64_t i = 0; i < group; ++i) {
    const __m512 inv = _mm512_set1_ps(lrun[i]);
    for (int64_t vv = 0; vv < nv; ++vv) {
      const __mmask16 m = vv == nv - 1 ? tail : static_cast<__mmask16>(0xffff);
      _mm512_mask_storeu_ps(out + i * hd + vv * 16, m, _mm512_div_ps(_mm512_loadu_ps(acc + (i * nv + vv) * 16), inv));
    }
  }
}

}  // namespace

void paged_attention_batch(const AttentionShape& shape, const float* q, const AttentionSequence* seqs, int64_t num_seqs,
                           const KVLayerView& kv, float* out) {
  const int64_t H = shape.num_heads, KVH = shape.num_kv_heads, hd = shape.head_dim, group = H / KVH;
  if (!cpu_has_avx512_bf16()) {
    for (int64_t s = 0; s < num_seqs; ++s)
      paged_attention(shape, q + seqs[s].query_start * H * hd, seqs[s].num_queries, seqs[s].context_len,
                      seqs[s].block_table, kv, out + seqs[s].query_start * H * hd);
    return;
  }
  thread_local std::vector<int64_t> first_item;  // per sequence, then the total
  first_item.assign(static_cast<size_t>(num_seqs + 1), 0);
  double cost = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    first_item[static_cast<size_t>(s + 1)] = first_item[static_cast<size_t>(s)] + seqs[s].num_queries * KVH;
    cost += static_cast<double>(seqs[s].num_queries) * static_cast<double>(seqs[s].context_len) * double(H * hd);
  }
  const int64_t total = first_item.back();
  const int64_t* offsets = first_item.data();
  ThreadPool& pool = ThreadPool::instance();
  const int threads = cost < 2e5 ? 1 : pool.num_threads();
  const size_t scratch_floats = static_cast<size_t>(group * ((hd + 15) / 16 * 16 + 18));
  std::atomic<int64_t> next{0};  // items handed out one at a time (their costs differ)

  pool.run(threads, [&](int) {
    thread_local std::vector<float> scratch;
    if (scratch.size() < scratch_floats) scratch.resize(scratch_floats);
    for (int64_t item = next.fetch_add(1); item < total; item = next.fetch_add(1)) {
      const int64_t s = std::upper_bound(offsets, offsets + num_seqs + 1, item) - offsets - 1;
      const AttentionSequence& seq = seqs[s];
      const int64_t local = item - offsets[s];
      const int64_t t = local / KVH, g = local % KVH;
      const int64_t row = seq.query_start + t;
      const int64_t pos = seq.context_len - seq.num_queries + t;
      attend(shape, group, q + (row * H + g * group) * hd, pos, seq.block_table, kv, g,
             out + (row * H + g * group) * hd, scratch.data());
    }
  });
}

}  // namespace pagellm::kernels
