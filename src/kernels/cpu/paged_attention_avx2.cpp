#include "kernels/cpu/paged_attention_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/convert.h"

#define PAGELLM_AVX2 __attribute__((target("avx2,fma")))
#define PAGELLM_AVX2_INLINE PAGELLM_AVX2 inline __attribute__((always_inline))

namespace pagellm::kernels::avx2 {
namespace {

// Below this many query x context x head x head_dim multiply-adds one thread does the whole call.
constexpr double kParallelCost = 2e4;
// Heads of a group scored together against each key vector.
constexpr int64_t kHeadsPerPass = 4;

template <class T>
PAGELLM_AVX2_INLINE __m256 load8(const T* p) {
  if constexpr (sizeof(T) == 4) {
    return _mm256_loadu_ps(p);
  } else {  // bf16: the 16 bits are a float's high half
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <class T>
PAGELLM_AVX2_INLINE float load1(const T* p) {
  if constexpr (sizeof(T) == 4)
    return *p;
  else
    return bf16_to_f32(*p);
}

PAGELLM_AVX2_INLINE float sum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

PAGELLM_AVX2_INLINE float max8(__m256 v) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}

// One query token at position pos, the `group` heads of KV head g: q and out hold group x hd floats.
// scratch: group rows of `stride` scores, then group x hd sums.
template <class T>
PAGELLM_AVX2 void attend_token(const AttentionShape& shape, int64_t group, const float* q, int64_t pos,
                               const int32_t* table, const KVLayerView& kv, int64_t g, float* out, float* scratch,
                               int64_t stride) {
  const int64_t hd = shape.head_dim, B = kv.block_size, n = pos + 1;
  float* scores = scratch;
  float* sums = scratch + group * stride;
  const __m256 scale = _mm256_set1_ps(shape.scale);
  for (int64_t j0 = 0; j0 < n; j0 += B) {
    const T* keys = reinterpret_cast<const T*>(kv.key_columns(table[j0 / B], g));
    const int64_t count = std::min(B, n - j0);
    int64_t jj = 0;
    // 16 keys (or 8) x up to 4 heads a pass: up to 8 independent FMA chains over head_dim, each key
    // vector loaded once for the heads. Lanes past `count` land in the rows' padding.
    for (; jj + 8 <= B && jj < count; jj += 16) {
      const bool two = jj + 16 <= B && jj + 8 < count;
      for (int64_t h0 = 0; h0 < group; h0 += kHeadsPerPass) {
        const int64_t heads = std::min<int64_t>(kHeadsPerPass, group - h0);
        __m256 acc[kHeadsPerPass][2];
        for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
        for (int64_t d = 0; d < hd; ++d) {
          const __m256 k0 = load8(keys + d * B + jj);
          const __m256 k1 = two ? load8(keys + d * B + jj + 8) : _mm256_setzero_ps();
#pragma GCC unroll 4
          for (int h = 0; h < kHeadsPerPass; ++h) {
            if (h >= heads) break;
            const __m256 qd = _mm256_set1_ps(q[(h0 + h) * hd + d]);
            acc[h][0] = _mm256_fmadd_ps(qd, k0, acc[h][0]);
            acc[h][1] = _mm256_fmadd_ps(qd, k1, acc[h][1]);
          }
        }
        for (int64_t h = 0; h < heads; ++h) {
          float* row = scores + (h0 + h) * stride + j0 + jj;
          _mm256_storeu_ps(row, _mm256_mul_ps(acc[h][0], scale));
          if (two) _mm256_storeu_ps(row + 8, _mm256_mul_ps(acc[h][1], scale));
        }
      }
      if (!two) jj -= 8;  // one vector done: the next whole vector or the tail starts 8 on
    }
    for (; jj < count; ++jj) {
      for (int64_t h = 0; h < group; ++h) {
        const float* qh = q + h * hd;
        float acc = 0.0f;
        for (int64_t d = 0; d < hd; ++d) acc = std::fma(qh[d], load1(keys + d * B + jj), acc);
        scores[h * stride + j0 + jj] = acc * shape.scale;
      }
    }
  }
  const int64_t whole = n / 8 * 8;
  for (int64_t h = 0; h < group; ++h) {
    float* s = scores + h * stride;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (int64_t j = 0; j < whole; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
    float mx = max8(vmax);
    for (int64_t j = whole; j < n; ++j) mx = std::max(mx, s[j]);
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    for (int64_t j = 0; j < whole; j += 8) {
      const __m256 e = simd::exp_ps256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
      _mm256_storeu_ps(s + j, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    float tail_sum = 0.0f;
    if (whole < n) {  // the last 1-7 scores through the same vector exp
      alignas(32) float tail[8] = {};
      std::copy(s + whole, s + n, tail);
      _mm256_store_ps(tail, simd::exp_ps256(_mm256_sub_ps(_mm256_load_ps(tail), vm)));
      std::copy(tail, tail + (n - whole), s + whole);
      for (int64_t j = 0; j < n - whole; ++j) tail_sum += tail[j];
    }
    s[stride - 1] = sum8(vsum) + tail_sum;  // the denominator, in the row's padding
  }
  // p_j v_j in key order, in registers: 32 dimensions x 2 heads a pass, each V vector loaded once
  // for both heads.
  const int64_t vec_d = hd / 8 * 8;
  for (int64_t d0 = 0; d0 < vec_d; d0 += 32) {
    const int64_t vecs = std::min<int64_t>(4, (vec_d - d0) / 8);
    for (int64_t h0 = 0; h0 < group; h0 += 2) {
      const bool pair = h0 + 1 < group;
      __m256 acc[2][4];
      for (auto& a : acc) a[0] = a[1] = a[2] = a[3] = _mm256_setzero_ps();
      const float* p0 = scores + h0 * stride;
      const float* p1 = pair ? p0 + stride : p0;
      for (int64_t j = 0; j < n; ++j) {
        const T* v = reinterpret_cast<const T*>(kv.value(table[j / B], j % B)) + g * hd + d0;
        const __m256 w0 = _mm256_set1_ps(p0[j]), w1 = _mm256_set1_ps(p1[j]);
#pragma GCC unroll 4
        for (int64_t i = 0; i < 4; ++i) {
          if (i >= vecs) break;
          const __m256 x = load8(v + 8 * i);
          acc[0][i] = _mm256_fmadd_ps(w0, x, acc[0][i]);
          acc[1][i] = _mm256_fmadd_ps(w1, x, acc[1][i]);
        }
      }
      for (int64_t i = 0; i < vecs; ++i) {
        _mm256_storeu_ps(sums + h0 * hd + d0 + 8 * i, acc[0][i]);
        if (pair) _mm256_storeu_ps(sums + (h0 + 1) * hd + d0 + 8 * i, acc[1][i]);
      }
    }
  }
  for (int64_t d = vec_d; d < hd; ++d)
    for (int64_t h = 0; h < group; ++h) {
      float acc = 0.0f;
      for (int64_t j = 0; j < n; ++j)
        acc = std::fma(scores[h * stride + j],
                       load1(reinterpret_cast<const T*>(kv.value(table[j / B], j % B)) + g * hd + d), acc);
      sums[h * hd + d] = acc;
    }
  for (int64_t h = 0; h < group; ++h) {
    const float denom = scores[h * stride + stride - 1];
    for (int64_t d = 0; d < hd; ++d) out[h * hd + d] = sums[h * hd + d] / denom;
  }
}

}  // namespace

void paged_attention_batch(const AttentionShape& shape, const float* q, const AttentionSequence* seqs, int64_t num_seqs,
                           const KVLayerView& kv, float* out) {
  const int64_t H = shape.num_heads, KVH = shape.num_kv_heads, hd = shape.head_dim, group = H / KVH;
  thread_local std::vector<int64_t> first_item;  // per sequence, then the total
  first_item.assign(static_cast<size_t>(num_seqs + 1), 0);
  double cost = 0;
  int64_t longest = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    first_item[static_cast<size_t>(s + 1)] = first_item[static_cast<size_t>(s)] + seqs[s].num_queries * KVH;
    cost += static_cast<double>(seqs[s].num_queries) * static_cast<double>(seqs[s].context_len) * double(H * hd);
    longest = std::max(longest, seqs[s].context_len);
  }
  const int64_t total = first_item.back();
  if (total == 0) return;
  const int64_t* offsets = first_item.data();  // (the workers' own first_item is another vector)
  // A score row: the context rounded up to whole vectors, 8 lanes of slack, the denominator last.
  const int64_t stride = (longest + 7) / 8 * 8 + 16;
  const auto scratch_floats = static_cast<size_t>(group * (stride + hd));
  const auto attend = kv.dtype == KVDType::kBFloat16 ? &attend_token<uint16_t> : &attend_token<float>;
  ThreadPool& pool = ThreadPool::instance();
  const int threads = cost < kParallelCost ? 1 : pool.num_threads();
  std::atomic<int64_t> next{0};
  pool.run(threads, [&](int) {
    thread_local std::vector<float> scratch;
    if (scratch.size() < scratch_floats) scratch.resize(scratch_floats);
    for (int64_t item = next.fetch_add(1); item < total; item = next.fetch_add(1)) {
      const int64_t s = std::upper_bound(offsets, offsets + num_seqs + 1, item) - offsets - 1;
      const AttentionSequence& seq = seqs[s];
      const int64_t local = item - offsets[s], t = local / KVH, g = local % KVH;
      const int64_t row = seq.query_start + t, pos = seq.context_len - seq.num_queries + t;
      attend(shape, group, q + (row * H + g * group) * hd, pos, seq.block_table, kv, g,
             out + (row * H + g * group) * hd, scratch.data(), stride);
    }
  });
}

}  // namespace pagellm::kernels::avx2
