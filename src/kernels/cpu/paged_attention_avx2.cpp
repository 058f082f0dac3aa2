#include "kernels/cpu/paged_attention_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <numeric>
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
// Query rows scored together against each key vector: 12 accumulators, 2 key vectors and a
// broadcast fill the 16 registers.
constexpr int64_t kRowsPerPass = 6;
// An item takes no more query tokens than keep its rows (a row of scores each in the scratch) to
// this many; one token's heads may be more (a group of 64 heads: 64 rows).
constexpr int64_t kMaxRows = 48;

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

// One query row: a (token, head) state of the item's KV head.
struct QueryRow {
  const float* q;  // head_dim floats
  int64_t n;       // keys it attends to: its position + 1
  float* out;      // head_dim floats
};

// Scores of R rows for 16 keys (8 unless `two`) from `keys` (element d of key i at d * B + i): one
// FMA chain over head_dim each, up to 12 of them independent; each key vector loaded once for
// the rows. Stored scaled at out (rows `stride` apart).
template <class T, int R>
PAGELLM_AVX2 void score_pass(const T* keys, int64_t B, int64_t hd, bool two, const QueryRow* rows, float scale_factor,
                             float* out, int64_t stride) {
  const __m256 scale = _mm256_set1_ps(scale_factor);
  __m256 acc[R][2];
  const float* q[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    q[r] = rows[r].q;
  }
  for (int64_t d = 0; d < hd; ++d) {
    const __m256 k0 = load8(keys + d * B);
    const __m256 k1 = two ? load8(keys + d * B + 8) : _mm256_setzero_ps();
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 qd = _mm256_broadcast_ss(q[r] + d);
      acc[r][0] = _mm256_fmadd_ps(qd, k0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(qd, k1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(out + r * stride, _mm256_mul_ps(acc[r][0], scale));
    if (two) _mm256_storeu_ps(out + r * stride + 8, _mm256_mul_ps(acc[r][1], scale));
  }
}

template <class T>
using ScorePassFn = void (*)(const T*, int64_t, int64_t, bool, const QueryRow*, float, float*, int64_t);
// kScorePasses<T>[rows - 1]
template <class T>
constexpr std::array<ScorePassFn<T>, kRowsPerPass> kScorePasses = {
    &score_pass<T, 1>, &score_pass<T, 2>, &score_pass<T, 3>, &score_pass<T, 4>, &score_pass<T, 5>, &score_pass<T, 6>};

// p_j v_j for keys [j_begin, j_end) into rows S..R-1 of R, 32 dimensions from `offset` a pass, each
// V vector loaded once for those rows: the accumulators go on from what they hold.
template <class T, int R, int S>
PAGELLM_AVX2_INLINE void add_values(const KVLayerView& kv, const int32_t* table, int64_t offset, int64_t vecs,
                                    const float* const (&p)[R], int64_t j_begin, int64_t j_end, __m256 (&acc)[R][4]) {
  const int64_t B = kv.block_size, row = kv.token_stride();
  // Block by block: the table lookup and the division once a block, not once a key.
  for (int64_t j0 = j_begin / B * B; j0 < j_end; j0 += B) {
    const T* v = reinterpret_cast<const T*>(kv.value(table[j0 / B], 0)) + offset;
    for (int64_t j = std::max(j0, j_begin); j < std::min(j_end, j0 + B); ++j) {
      const T* vj = v + (j - j0) * row;
      __m256 w[R];
#pragma GCC unroll 3
      for (int r = S; r < R; ++r) w[r] = _mm256_set1_ps(p[r][j]);
#pragma GCC unroll 4
      for (int64_t i = 0; i < 4; ++i) {
        if (i >= vecs) break;
        const __m256 x = load8(vj + 8 * i);
#pragma GCC unroll 3
        for (int r = S; r < R; ++r) acc[r][i] = _mm256_fmadd_ps(w[r], x, acc[r][i]);
      }
    }
  }
}

// The sums of R rows (ordered by n) for up to 32 dimensions from d0 of KV head g: all R over the
// keys the first attends to, then the rest over theirs, and so on; stored to sums (hd apart).
template <class T, int R>
PAGELLM_AVX2 void value_pass(const KVLayerView& kv, const int32_t* table, int64_t offset, int64_t vecs,
                             const float* scores, int64_t stride, const QueryRow* rows, float* sums, int64_t hd) {
  __m256 acc[R][4];
  const float* p[R];
#pragma GCC unroll 3
  for (int r = 0; r < R; ++r) {
    acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm256_setzero_ps();
    p[r] = scores + r * stride;
  }
  add_values<T, R, 0>(kv, table, offset, vecs, p, 0, rows[0].n, acc);
  if constexpr (R > 1) add_values<T, R, 1>(kv, table, offset, vecs, p, rows[0].n, rows[1].n, acc);
  if constexpr (R > 2) add_values<T, R, 2>(kv, table, offset, vecs, p, rows[1].n, rows[2].n, acc);
#pragma GCC unroll 3
  for (int r = 0; r < R; ++r)
    for (int64_t i = 0; i < vecs; ++i) _mm256_storeu_ps(sums + r * hd + 8 * i, acc[r][i]);
}

template <class T>
using ValuePassFn = void (*)(const KVLayerView&, const int32_t*, int64_t, int64_t, const float*, int64_t,
                             const QueryRow*, float*, int64_t);
// Rows a value pass sums: 12 accumulators, a V vector and 3 broadcasts fill the 16 registers.
constexpr int64_t kRowsPerValuePass = 3;
// kValuePasses<T>[rows - 1]
template <class T>
constexpr std::array<ValuePassFn<T>, kRowsPerValuePass> kValuePasses = {&value_pass<T, 1>, &value_pass<T, 2>,
                                                                        &value_pass<T, 3>};

// The rows of KV head g (ordered by n). scratch: a row of `stride` scores
// per row, then head_dim sums per row. Every score is one FMA chain over head_dim and every sum
// one over the keys in order, whichever rows share the item, so a row's result depends only on
// its q, its n and the cache.
template <class T>
PAGELLM_AVX2 void attend_rows(const AttentionShape& shape, const QueryRow* rows, int64_t num_rows, const int32_t* table,
                              const KVLayerView& kv, int64_t g, float* scratch, int64_t stride) {
  const int64_t hd = shape.head_dim, B = kv.block_size;
  int64_t n_max = 0;
  for (int64_t r = 0; r < num_rows; ++r) n_max = std::max(n_max, rows[r].n);
  float* scores = scratch;
  float* sums = scratch + num_rows * stride;
  const int64_t passes = (num_rows + kRowsPerPass - 1) / kRowsPerPass;
  // Scores up to the longest row's n (a shorter row's extra ones are never read).
  for (int64_t j0 = 0; j0 < n_max; j0 += B) {
    const T* keys = reinterpret_cast<const T*>(kv.key_columns(table[j0 / B], g));
    const int64_t count = std::min(B, n_max - j0);
    int64_t jj = 0;
    // 16 keys (or 8) x up to kRowsPerPass rows a pass: up to 12 independent FMA chains over
    // head_dim, each key vector loaded once for the rows. Lanes past `count` land in the rows'
    // padding.
    for (; jj + 8 <= B && jj < count; jj += 16) {
      const bool two = jj + 16 <= B && jj + 8 < count;
      for (int64_t p = 0; p < passes; ++p) {  // passes of even size: 7 rows as 4 + 3, not 6 + 1
        const int64_t r0 = num_rows * p / passes, r1 = num_rows * (p + 1) / passes;
        kScorePasses<T>[static_cast<size_t>(r1 - r0 - 1)](keys + jj, B, hd, two, rows + r0, shape.scale,
                                                          scores + r0 * stride + j0 + jj, stride);
      }
      if (!two) jj -= 8;  // one vector done: the next whole vector or the tail starts 8 on
    }
    for (; jj < count; ++jj) {
      for (int64_t r = 0; r < num_rows; ++r) {
        const float* q = rows[r].q;
        float acc = 0.0f;
        for (int64_t d = 0; d < hd; ++d) acc = std::fma(q[d], load1(keys + d * B + jj), acc);
        scores[r * stride + j0 + jj] = acc * shape.scale;
      }
    }
  }
  for (int64_t r = 0; r < num_rows; ++r) {
    const int64_t n = rows[r].n, whole = n / 8 * 8;
    float* s = scores + r * stride;
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
  // p_j v_j in key order, in registers: 32 dimensions x up to 3 rows a pass (passes of even size).
  const int64_t vec_d = hd / 8 * 8;
  const int64_t value_passes = (num_rows + kRowsPerValuePass - 1) / kRowsPerValuePass;
  for (int64_t d0 = 0; d0 < vec_d; d0 += 32) {
    const int64_t vecs = std::min<int64_t>(4, (vec_d - d0) / 8);
    for (int64_t p = 0; p < value_passes; ++p) {
      const int64_t r0 = num_rows * p / value_passes, r1 = num_rows * (p + 1) / value_passes;
      kValuePasses<T>[static_cast<size_t>(r1 - r0 - 1)](kv, table, g * hd + d0, vecs, scores + r0 * stride, stride,
                                                        rows + r0, sums + r0 * hd + d0, hd);
    }
  }
  for (int64_t d = vec_d; d < hd; ++d)
    for (int64_t r = 0; r < num_rows; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < rows[r].n; ++j)
        acc = std::fma(scores[r * stride + j],
                       load1(reinterpret_cast<const T*>(kv.value(table[j / B], j % B)) + g * hd + d), acc);
      sums[r * hd + d] = acc;
    }
  for (int64_t r = 0; r < num_rows; ++r) {
    const float denom = scores[r * stride + stride - 1];
    for (int64_t d = 0; d < hd; ++d) rows[r].out[d] = sums[r * hd + d] / denom;
  }
}

}  // namespace

void paged_attention_batch(const AttentionShape& shape, const float* q, const AttentionSequence* seqs, int64_t num_seqs,
                           const KVLayerView& kv, float* out) {
  const int64_t H = shape.num_heads, KVH = shape.num_kv_heads, hd = shape.head_dim, group = H / KVH;
  // Query tokens an item takes: enough that its rows fill whole passes of kRowsPerPass (a group of
  // 3 heads: 2 tokens, 7 heads: 6), at most kMaxRows rows.
  const int64_t tile = std::max<int64_t>(1, std::min(kRowsPerPass / std::gcd(group, kRowsPerPass), kMaxRows / group));
  thread_local std::vector<int64_t> first_item;  // per sequence, then the total
  first_item.assign(static_cast<size_t>(num_seqs + 1), 0);
  double cost = 0;
  int64_t longest = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    first_item[static_cast<size_t>(s + 1)] =
        first_item[static_cast<size_t>(s)] + (seqs[s].num_queries + tile - 1) / tile * KVH;
    cost += static_cast<double>(seqs[s].num_queries) * static_cast<double>(seqs[s].context_len) * double(H * hd);
    longest = std::max(longest, seqs[s].context_len);
  }
  const int64_t total = first_item.back();
  if (total == 0) return;
  const int64_t* offsets = first_item.data();  // (the workers' own first_item is another vector)
  // A score row: the context rounded up to whole vectors, 8 lanes of slack, the denominator last.
  const int64_t stride = (longest + 7) / 8 * 8 + 16;
  const auto scratch_floats = static_cast<size_t>(tile * group * (stride + hd));
  const auto attend = kv.dtype == KVDType::kBFloat16 ? &attend_rows<uint16_t> : &attend_rows<float>;
  ThreadPool& pool = ThreadPool::instance();
  const int threads = cost < kParallelCost ? 1 : pool.num_threads();
  std::atomic<int64_t> next{0};
  pool.run(threads, [&](int) {
    thread_local std::vector<float> scratch;
    thread_local std::vector<QueryRow> rows;
    if (scratch.size() < scratch_floats) scratch.resize(scratch_floats);
    for (int64_t item = next.fetch_add(1); item < total; item = next.fetch_add(1)) {
      const int64_t s = std::upper_bound(offsets, offsets + num_seqs + 1, item) - offsets - 1;
      const AttentionSequence& seq = seqs[s];
      const int64_t local = item - offsets[s], t0 = local / KVH * tile, g = local % KVH;
      const int64_t tokens = std::min(tile, seq.num_queries - t0);
      rows.clear();
      for (int64_t t = t0; t < t0 + tokens; ++t) {
        const int64_t row = seq.query_start + t, pos = seq.context_len - seq.num_queries + t;
        for (int64_t h = 0; h < group; ++h) {
          const int64_t at = (row * H + g * group + h) * hd;
          rows.push_back(QueryRow{q + at, pos + 1, out + at});
        }
      }
      attend(shape, rows.data(), static_cast<int64_t>(rows.size()), seq.block_table, kv, g, scratch.data(), stride);
    }
  });
}

}  // namespace pagellm::kernels::avx2
