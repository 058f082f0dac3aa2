// AVX-512 paged attention (decode, prefill and chunked prefill alike): see paged_attention.h.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/paged_attention_avx2.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/thread_pool.h"

// GCC 12 flags the intentionally undefined source operand inside some AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define PAGELLM_AVX512 PAGELLM_TARGET_AVX512
#define PAGELLM_AVX512_INLINE PAGELLM_TARGET_AVX512 inline __attribute__((always_inline))

namespace pagellm::kernels {
namespace {

constexpr int64_t kTile = 16;        // key positions per softmax step
constexpr int64_t kQueryBlock = 16;  // query tokens of one sequence sharing each key tile
constexpr int kChains = 8;           // score FMA chains in flight (states per pass when there are many)
constexpr int64_t kMaxTilesPerPass = 4;
constexpr int64_t kPassChains = 16;  // score chains a pass of several tiles aims for
constexpr int64_t kMaxVectors = 16;  // head_dim up to 256
// Below this many (query, key, head element) products attention stays on the calling thread. A
// decode step of the 110M (12 heads of 64) crosses it from a context of ~26 tokens: its attention
// took ~8 % of the main thread while the worker waited (docs/perf/kernels.md, session 4).
constexpr double kParallelAttentionCost = 2e4;

// In-register transpose of a 16 x 16 float block: r[i] holds row i on entry, column i on return.
PAGELLM_AVX512 inline void transpose16x16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i + c], 128-bit lane L: rows 4i..4i+3 of column 4L + c
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);
  }
}

// 16 elements of a K or V row as float32 (the first `m` lanes; bf16 widened exactly).
template <class T>
PAGELLM_AVX512_INLINE __m512 load_kv16(const T* p, __mmask16 m = 0xffff) {
  if constexpr (sizeof(T) == 2)
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
  else
    return _mm512_maskz_loadu_ps(m, p);
}

// Where a pass of up to kMaxTilesPerPass tiles reads: each tile's K columns (head_dim rows
// block_size elements apart, from the tile's first key) and each key's V row. A decode step finds
// them in DRAM (the weights streamed since the last step pushed them out of cache), and the
// kernel's dependent chains leave memory idle in between (docs/perf/kernels.md, session 8): each
// pass asks for the next pass's rows, and an item's last pass for the first pass of the thread's
// next item, a row of each K tile and one V row per element of the pass's score loop (a burst of
// prefetches stalls).
struct PassRows {
  const uint8_t* k[kMaxTilesPerPass];
  const uint8_t* v[kMaxTilesPerPass * kTile];
  int tiles = 0, keys = 0;
  int64_t k_row_bytes = 0, v_bytes = 0;
};

// The rows of keys [t0, t0 + n) of KV head g (t0 a multiple of 16, n <= kMaxTilesPerPass * 16).
void pass_rows(const int32_t* table, const KVLayerView& kv, int64_t g, int64_t t0, int64_t n, PassRows& r) {
  const int64_t B = kv.block_size, es = kv.elem_bytes(), v_stride = kv.token_stride() * es;
  r.keys = static_cast<int>(n);
  r.tiles = static_cast<int>((n + kTile - 1) / kTile);
  r.k_row_bytes = B * es;
  r.v_bytes = kv.head_dim * es;
  int64_t bi = t0 / B, off = t0 % B;
  const uint8_t* vb = kv.value(table[bi], 0) + g * r.v_bytes;
  for (int64_t j = 0; j < n; ++j) {
    if (j % kTile == 0) r.k[j / kTile] = kv.key_columns(table[bi], g) + off * es;
    r.v[j] = vb + off * v_stride;
    if (++off == B && j + 1 < n) {
      off = 0;
      vb = kv.value(table[++bi], 0) + g * r.v_bytes;
    }
  }
}

PAGELLM_AVX512_INLINE void prefetch_bytes(const uint8_t* p, int64_t bytes) {
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(p + b), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(p + bytes - 1), _MM_HINT_T0);
}

// Step d of a score loop over head_dim: row d of each K tile of `next` and key d's V row. For the
// tiles of block sizes that are not multiples of 16 only the first block's part of each row.
PAGELLM_AVX512_INLINE void prefetch_pass_step(const PassRows& next, int64_t d) {
  for (int u = 0; u < next.tiles; ++u)
    _mm_prefetch(reinterpret_cast<const char*>(next.k[u] + d * next.k_row_bytes), _MM_HINT_T0);
  if (d < next.keys) prefetch_bytes(next.v[d], next.v_bytes);
}

// A tile's keys where the block size is not a multiple of 16 (the tile spans blocks):
// kt[d * 16 + j] = key j's element d as float32, 0 past nb.
template <class T>
PAGELLM_AVX512 void gather_key_tile(const int32_t* table, const KVLayerView& kv, int64_t g, int64_t t0, int nb,
                                    float* kt) {
  const int64_t B = kv.block_size, hd = kv.head_dim;
  std::fill(kt, kt + hd * kTile, 0.0f);
  for (int j = 0; j < nb;) {
    const int64_t t = t0 + j, off = t % B;
    const int n = static_cast<int>(std::min<int64_t>(B - off, nb - j));
    const T* k = reinterpret_cast<const T*>(kv.key_columns(table[t / B], g)) + off;
    const auto m = static_cast<__mmask16>((1u << n) - 1u);
    for (int64_t d = 0; d < hd; ++d) _mm512_mask_storeu_ps(kt + d * kTile + j, m, load_kv16(k + d * B, m));
    j += n;
  }
}

// Scores of S states against NT key tiles (keys in lanes: row d of tile u, element d of its 16
// keys, at kt[u] + d * ld): S x NT FMA chains over d (each one state's chain for one tile, in d
// order, as if computed alone), sharing each broadcast query element across the tiles and each key
// row across the states. Decode has only the group's few states per KV head; several tiles per
// pass keep enough chains in flight (3 heads x 4 tiles instead of 3 of 8 chains). Lanes past a
// tile's keys hold whatever the cache holds there; the softmax masks their scores.
template <class T, int S, int NT>
PAGELLM_AVX512 void score_states(const float* const* qp, const T* const* kt, int64_t ld, int64_t hd, float* scores,
                                 int64_t scores_tile_stride, const PassRows* next) {
  __m512 sc[S][NT];
#pragma GCC unroll 8
  for (int c = 0; c < S; ++c)
#pragma GCC unroll 4
    for (int u = 0; u < NT; ++u) sc[c][u] = _mm512_setzero_ps();
  for (int64_t d = 0; d < hd; ++d) {
    if (next) prefetch_pass_step(*next, d);
    __m512 kd[NT];
#pragma GCC unroll 4
    for (int u = 0; u < NT; ++u) kd[u] = load_kv16(kt[u] + d * ld);
#pragma GCC unroll 8
    for (int c = 0; c < S; ++c) {
      const __m512 qd = _mm512_set1_ps(qp[c][d]);
#pragma GCC unroll 4
      for (int u = 0; u < NT; ++u) sc[c][u] = _mm512_fmadd_ps(qd, kd[u], sc[c][u]);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < S; ++c)
#pragma GCC unroll 4
    for (int u = 0; u < NT; ++u) _mm512_storeu_ps(scores + u * scores_tile_stride + c * 16, sc[c][u]);
}

template <class T>
using ScoreFn = void (*)(const float* const*, const T* const*, int64_t, int64_t, float*, int64_t, const PassRows*);
template <class T, int... Ss>
constexpr std::array<std::array<ScoreFn<T>, kMaxTilesPerPass>, sizeof...(Ss)> score_table(
    std::integer_sequence<int, Ss...>) {
  return {{{&score_states<T, Ss + 1, 1>, &score_states<T, Ss + 1, 2>, &score_states<T, Ss + 1, 3>,
            &score_states<T, Ss + 1, 4>}...}};
}
// kScoreFns<T>[S - 1][NT - 1]
template <class T>
const auto kScoreFns = score_table<T>(std::make_integer_sequence<int, kChains>{});

// Tiles scored per pass for `states` states: about kPassChains chains (at most 4 tiles), one tile
// when the states alone fill kChains.
int64_t tiles_per_pass(int64_t states) {
  return states >= kChains ? 1 : std::min<int64_t>(kMaxTilesPerPass, std::max<int64_t>(1, kPassChains / states));
}

// How many keys of the tile starting at t0 a (token, head) state sees: its token sits at position
// pos0 + st / group and sees every key up to itself.
struct KeysSeen {
  int64_t pos0, group, t0;
  int operator()(int64_t st) const { return static_cast<int>(std::min<int64_t>(kTile, pos0 + st / group + 1 - t0)); }
};

// Where a tile's probabilities are: the vertical softmax leaves them per block of 16 states,
// key-major; the per-state one where the scores were, one row of 16 keys per state.
struct TileProbs {
  const float* base;
  bool key_major;
  const float* row(int64_t st) const {
    return key_major ? base + (st & ~int64_t{15}) * 16 + (st & 15) : base + st * 16;
  }
  int key_stride() const { return key_major ? 16 : 1; }
};

// States [s0, s0 + G) of one tile: acc_s = acc_s * corr_s + sum_{j < nb_s} p_sj v_j, each element
// one chain over j in order, whatever G is (so decode and prefill get the same bits).
template <class T, int NV, int G>
PAGELLM_AVX512_INLINE void accumulate_group(const T* const* vrow, TileProbs probs, const float* corrs,
                                            KeysSeen keys_seen, int64_t s0, float* acc) {
  __m512 a[G][NV];
  int nb[G];
  const float* pr[G];
  const int js = probs.key_stride();
  int nb_max = 0, nb_min = kTile;
#pragma GCC unroll 4
  for (int s = 0; s < G; ++s) {
    nb[s] = keys_seen(s0 + s);
    pr[s] = probs.row(s0 + s);
    nb_max = std::max(nb_max, nb[s]);
    nb_min = std::min(nb_min, nb[s]);
    const __m512 c = _mm512_set1_ps(corrs[s0 + s]);
#pragma GCC unroll 8
    for (int vv = 0; vv < NV; ++vv) a[s][vv] = _mm512_mul_ps(_mm512_loadu_ps(acc + ((s0 + s) * NV + vv) * 16), c);
  }
  int j = 0;
  for (; j < nb_min; ++j) {  // keys every state of the group sees (all of them but on the diagonal)
    __m512 v[NV];
#pragma GCC unroll 8
    for (int vv = 0; vv < NV; ++vv) v[vv] = load_kv16(vrow[j] + vv * 16);
#pragma GCC unroll 4
    for (int s = 0; s < G; ++s) {
      const __m512 pj = _mm512_set1_ps(pr[s][j * js]);
#pragma GCC unroll 8
      for (int vv = 0; vv < NV; ++vv) a[s][vv] = _mm512_fmadd_ps(pj, v[vv], a[s][vv]);
    }
  }
  for (; j < nb_max; ++j) {
    __m512 v[NV];
#pragma GCC unroll 8
    for (int vv = 0; vv < NV; ++vv) v[vv] = load_kv16(vrow[j] + vv * 16);
#pragma GCC unroll 4
    for (int s = 0; s < G; ++s) {
      if (j >= nb[s]) continue;  // a later token of the chunk: not this state's key
      const __m512 pj = _mm512_set1_ps(pr[s][j * js]);
#pragma GCC unroll 8
      for (int vv = 0; vv < NV; ++vv) a[s][vv] = _mm512_fmadd_ps(pj, v[vv], a[s][vv]);
    }
  }
#pragma GCC unroll 4
  for (int s = 0; s < G; ++s)
#pragma GCC unroll 8
    for (int vv = 0; vv < NV; ++vv) _mm512_storeu_ps(acc + ((s0 + s) * NV + vv) * 16, a[s][vv]);
}

// States [s0, s0 + left) in one group of `left` (1 <= left <= R).
template <class T, int NV, int R>
PAGELLM_AVX512_INLINE void accumulate_rest(const T* const* vrow, TileProbs probs, const float* corrs,
                                           KeysSeen keys_seen, int64_t s0, int64_t left, float* acc) {
  if constexpr (R >= 1) {
    if (left == R)
      accumulate_group<T, NV, R>(vrow, probs, corrs, keys_seen, s0, acc);
    else
      accumulate_rest<T, NV, R - 1>(vrow, probs, corrs, keys_seen, s0, left, acc);
  }
}

template <class T, int NV, int G>
PAGELLM_AVX512_INLINE void accumulate_states(const T* const* vrow, TileProbs probs, const float* corrs,
                                             KeysSeen keys_seen, int64_t st_first, int64_t states, float* acc) {
  int64_t st = st_first;
  for (; st + G <= states; st += G) accumulate_group<T, NV, G>(vrow, probs, corrs, keys_seen, st, acc);
  // The rest in one group (decode's 7 heads per KV head: 4 + 3, not 4 + 1 + 1 + 1 passes over V).
  if (st < states) accumulate_rest<T, NV, G - 1>(vrow, probs, corrs, keys_seen, st, states - st, acc);
}

// Any head_dim: one state at a time, the last vector masked.
template <class T>
PAGELLM_AVX512 void accumulate_states_any(int64_t nv, __mmask16 tail, const T* const* vrow, TileProbs probs,
                                          const float* corrs, KeysSeen keys_seen, int64_t st_first, int64_t states,
                                          float* acc) {
  for (int64_t st = st_first; st < states; ++st) {
    float* a_st = acc + st * nv * 16;
    __m512 a[kMaxVectors];
    for (int64_t vv = 0; vv < nv; ++vv)
      a[vv] = _mm512_mul_ps(_mm512_loadu_ps(a_st + vv * 16), _mm512_set1_ps(corrs[st]));
    const float* pr = probs.row(st);
    for (int j = 0, nb = keys_seen(st), js = probs.key_stride(); j < nb; ++j) {
      const __m512 pj = _mm512_set1_ps(pr[j * js]);
      for (int64_t vv = 0; vv < nv; ++vv) {
        const __mmask16 m = vv == nv - 1 ? tail : static_cast<__mmask16>(0xffff);
        a[vv] = _mm512_fmadd_ps(pj, load_kv16(vrow[j] + vv * 16, m), a[vv]);
      }
    }
    for (int64_t vv = 0; vv < nv; ++vv) _mm512_storeu_ps(a_st + vv * 16, a[vv]);
  }
}

// Head dims that fill whole vectors get the grouped form (G states x NV vectors of accumulators
// stay within 16 registers); the rest the masked loop. Same per-element arithmetic either way.
template <class T>
PAGELLM_AVX512 void accumulate_values(int64_t hd, int64_t nv, __mmask16 tail, const T* const* vrow, TileProbs probs,
                                      const float* corrs, KeysSeen keys_seen, int64_t st_first, int64_t states,
                                      float* acc) {
  if (hd == 64)
    accumulate_states<T, 4, 4>(vrow, probs, corrs, keys_seen, st_first, states, acc);
  else if (hd == 128)
    accumulate_states<T, 8, 2>(vrow, probs, corrs, keys_seen, st_first, states, acc);
  else if (hd == 32)
    accumulate_states<T, 2, 8>(vrow, probs, corrs, keys_seen, st_first, states, acc);
  else
    accumulate_states_any(nv, tail, vrow, probs, corrs, keys_seen, st_first, states, acc);
}

// A tile's 16 probabilities of one state summed as a fixed tree, (p_i + p_i+8), then 4, 2 and 1
// apart: the same order whether the keys sit in lanes (per-state softmax, here) or across registers
// (vertical softmax, sum_tree16 below), so both forms give the same bits. Each step adds a lane to
// its partner and the partner to it, so every lane ends with the same total.
PAGELLM_AVX512_INLINE __m512 sum_lanes16(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));  // lanes i and i + 8
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xb1));  // i and i + 4
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4e));        // i and i + 2
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xb1));        // i and i + 1
  return v;
}

PAGELLM_AVX512_INLINE __m512 sum_tree16(const __m512* p) {
  __m512 t[8];
  for (int i = 0; i < 8; ++i) t[i] = _mm512_add_ps(p[i], p[i + 8]);
  for (int i = 0; i < 4; ++i) t[i] = _mm512_add_ps(t[i], t[i + 4]);
  for (int i = 0; i < 2; ++i) t[i] = _mm512_add_ps(t[i], t[i + 2]);
  return _mm512_add_ps(t[0], t[1]);
}

PAGELLM_AVX512_INLINE __m512 max_lanes16(__m512 v) {
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0xb1));
  v = _mm512_max_ps(v, _mm512_permute_ps(v, 0x4e));
  v = _mm512_max_ps(v, _mm512_permute_ps(v, 0xb1));
  return v;
}

// State st's scaled scores, -inf past the keys it sees.
PAGELLM_AVX512_INLINE __m512 scaled_row(const float* scores, KeysSeen keys_seen, int64_t st, __m512 scale) {
  const auto valid = static_cast<__mmask16>((1u << keys_seen(st)) - 1u);
  return _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), valid, _mm512_mul_ps(_mm512_loadu_ps(scores + st * 16), scale));
}

// Online softmax of one tile, per state: each live state's 16 scores (keys in lanes) take one
// vector exp, where the vertical form below takes 16 whatever the live states. Per element the
// same arithmetic as the vertical form (a max is exact in any order; the sum is sum_lanes16's tree).
PAGELLM_AVX512 void softmax_rows(float* scores, KeysSeen keys_seen, int64_t st_first, int64_t states, __m512 scale,
                                 float* mrun, float* lrun, float* corrs) {
  for (int64_t c0 = st_first; c0 < states; c0 += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, states - c0));
    // Per-state values gathered into lanes in registers, and mrun, lrun, corrs read and written as
    // whole vectors (lanes past the states are scratch padding): a vector load of what scalar or
    // masked stores just wrote waits for them to retire (~12 % of a decode call).
    __m512 row_max = _mm512_setzero_ps(), row_sum = _mm512_setzero_ps();
    for (int i = 0; i < n; ++i)
      row_max = _mm512_mask_mov_ps(row_max, static_cast<__mmask16>(1u << i),
                                   max_lanes16(scaled_row(scores, keys_seen, c0 + i, scale)));
    const __m512 m_old = _mm512_loadu_ps(mrun + c0);
    const __m512 m_new = _mm512_max_ps(m_old, row_max);
    const __m512 corr = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m_old, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ),
                                            simd::exp_ps(_mm512_sub_ps(m_old, m_new)));
    for (int i = 0; i < n; ++i) {
      const auto valid = static_cast<__mmask16>((1u << keys_seen(c0 + i)) - 1u);
      const __m512 m_i = _mm512_permutexvar_ps(_mm512_set1_epi32(i), m_new);
      const __m512 p =
          _mm512_maskz_mov_ps(valid, simd::exp_ps(_mm512_sub_ps(scaled_row(scores, keys_seen, c0 + i, scale), m_i)));
      _mm512_storeu_ps(scores + (c0 + i) * 16, p);
      row_sum = _mm512_mask_mov_ps(row_sum, static_cast<__mmask16>(1u << i), sum_lanes16(p));
    }
    _mm512_storeu_ps(mrun + c0, m_new);
    _mm512_storeu_ps(lrun + c0, _mm512_fmadd_ps(_mm512_loadu_ps(lrun + c0), corr, row_sum));
    _mm512_storeu_ps(corrs + c0, corr);
  }
}

// Online softmax of one tile for states [st_first, states), 16 states at a time with states in
// lanes and keys across registers (after a transpose), so the running max, the rescaling factor
// and the sum are plain vertical operations, each lane one state's own arithmetic. scores: [state]
// [16] on entry; on return the probabilities, key-major per block of 16 states. mrun, lrun, corrs:
// per state (round_up(states, 16) + 16 floats each, see attend_block).
PAGELLM_AVX512 void softmax_columns(float* scores, KeysSeen keys_seen, int64_t st_first, int64_t states, __m512 scale,
                                    float* mrun, float* lrun, float* corrs) {
  for (int64_t b0 = st_first & ~int64_t{15}; b0 < states; b0 += 16) {
    // Lanes of this block that see the tile: states in [st_first, states).
    const int lo = static_cast<int>(std::max<int64_t>(0, st_first - b0));
    const int hi = static_cast<int>(std::min<int64_t>(16, states - b0));
    const auto live = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    alignas(64) int32_t nb[16];
    for (int i = 0; i < 16; ++i) nb[i] = i >= lo && i < hi ? keys_seen(b0 + i) : 1;
    const __m512i nbv = _mm512_load_si512(nb);
    float* block = scores + b0 * 16;
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i >= lo && i < hi ? _mm512_loadu_ps(block + i * 16) : _mm512_setzero_ps();
    transpose16x16(r);  // r[j]: key j's score in every state's lane
    const __m512 m_old = _mm512_mask_loadu_ps(_mm512_setzero_ps(), live, mrun + b0);
    __m512 m_new = m_old;
    __mmask16 valid[16];
    for (int j = 0; j < kTile; ++j) {
      valid[j] = _mm512_cmpgt_epi32_mask(nbv, _mm512_set1_epi32(j));
      r[j] = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), valid[j], _mm512_mul_ps(r[j], scale));
      m_new = _mm512_max_ps(m_new, r[j]);
    }
    // 0 on a state's first tile (m_old = -inf; exp_ps would clamp it to e^-87).
    const __m512 corr = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m_old, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ),
                                            simd::exp_ps(_mm512_sub_ps(m_old, m_new)));
    for (int j = 0; j < kTile; ++j) {
      r[j] = _mm512_maskz_mov_ps(valid[j], simd::exp_ps(_mm512_sub_ps(r[j], m_new)));
      _mm512_storeu_ps(block + j * 16, r[j]);
    }
    const __m512 l = _mm512_fmadd_ps(_mm512_mask_loadu_ps(_mm512_setzero_ps(), live, lrun + b0), corr, sum_tree16(r));
    _mm512_mask_storeu_ps(mrun + b0, live, m_new);
    _mm512_mask_storeu_ps(lrun + b0, live, l);
    _mm512_mask_storeu_ps(corrs + b0, live, corr);
  }
}

// Up to this many states see a tile, the per-state softmax is the cheaper form (one exp and two
// 16-lane reductions per state against a transpose and 16 exps per block of 16).
constexpr int64_t kRowSoftmaxMaxStates = 8;

PAGELLM_AVX512 TileProbs softmax_tile(float* scores, KeysSeen keys_seen, int64_t st_first, int64_t states, __m512 scale,
                                      float* mrun, float* lrun, float* corrs) {
  const bool rows = states - st_first <= kRowSoftmaxMaxStates;
  if (rows)
    softmax_rows(scores, keys_seen, st_first, states, scale, mrun, lrun, corrs);
  else
    softmax_columns(scores, keys_seen, st_first, states, scale, mrun, lrun, corrs);
  return {scores, !rows};
}

constexpr int64_t attend_scratch_floats(int64_t states, int64_t hd) {
  const int64_t padded = (states + 15) / 16 * 16;
  return states * ((hd + 15) / 16 * 16) + (padded + 16) * 3 + padded * 16 * kMaxTilesPerPass + 16 +
         kMaxTilesPerPass * hd * 16;
}

// Query tokens at positions pos0 .. pos0 + nq - 1 of one sequence, the query heads q[0..group) of
// one KV head each (token i's heads at q + i * q_stride), against their causal keys. Per (token,
// head) the keys run in tiles [16c, 16c + 16) in order: scores as one FMA chain over head_dim,
// online softmax, then p_j v_j added key by key; that never depends on which tokens share the
// block, so a token computed alone (decode) gets the same bits as inside a prefill chunk.
// scratch: attend_scratch_floats(nq * group, head_dim) floats. T: the cache's element (float or
// bf16 bits), widened to float32 exactly as it is loaded. following: the rows of the thread's next
// item's first pass (no keys when there is none), asked for by this item's last pass.
template <class T>
PAGELLM_AVX512 void attend_block(const AttentionShape& sh, int64_t group, const float* q, int64_t q_stride, int64_t nq,
                                 int64_t pos0, const int32_t* table, const KVLayerView& kv, int64_t kv_head, float* out,
                                 float* scratch, const PassRows& following) {
  const int64_t hd = sh.head_dim, nv = (hd + 15) / 16, B = kv.block_size, states = nq * group;
  const auto tail = static_cast<__mmask16>(hd % 16 ? (1u << (hd % 16)) - 1 : 0xffffu);
  const int64_t padded = (states + 15) / 16 * 16;  // whole blocks of 16 states for the softmax
  float* acc = scratch;                            // [token][head][nv * 16]
  float* mrun = acc + states * nv * 16;            // [token][head]
  // Each per-state array 16 floats longer: softmax_rows reads and writes 16 states from any state.
  const int64_t per_state = padded + 16;
  float* lrun = mrun + per_state;     // [token][head]
  float* corrs = lrun + per_state;    // [token][head]: this tile's rescaling of acc
  float* scores = corrs + per_state;  // per tile of the pass: [token][head][16]: scores, then probabilities
  float* kt = scores + kMaxTilesPerPass * padded * 16;  // per tile of the pass: [hd][16], 64-byte aligned below
  kt = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(kt) + 63) & ~uintptr_t{63});
  std::fill(acc, acc + states * nv * 16, 0.0f);
  std::fill(mrun, mrun + states, -INFINITY);
  std::fill(lrun, lrun + states, 0.0f);
  const __m512 scale = _mm512_set1_ps(sh.scale);
  const int64_t pass_tiles = tiles_per_pass(states);
  const int64_t scores_stride = padded * 16;
  // Block sizes that are multiples of 16 hold each tile whole: its keys are scored straight from
  // the cache; other sizes gather the tile's pieces into kt first.
  const bool in_place = B % kTile == 0;

  const int64_t last = pos0 + nq - 1;
  // The (token, head) states that see a tile starting at t0: tokens at pos >= t0.
  auto first_state = [&](int64_t t0) { return std::max<int64_t>(0, t0 - pos0) * group; };
  const T* vrow[kMaxTilesPerPass * kTile];
  const T* key_tiles[kMaxTilesPerPass];
  const float* gathered[kMaxTilesPerPass];
  const int64_t pass_keys = kTile * pass_tiles;
  // This pass's rows and the next's (the block table walked once per pass rather than a division
  // and a lookup per key).
  PassRows rows[2];
  PassRows* cur = &rows[0];
  PassRows* ahead = &rows[1];
  pass_rows(table, kv, kv_head, 0, std::min(pass_keys, last + 1), *cur);
  for (int64_t pass0 = 0; pass0 <= last; pass0 += pass_keys) {
    const int64_t tiles = cur->tiles;
    for (int j = 0; j < cur->keys; ++j) vrow[j] = reinterpret_cast<const T*>(cur->v[j]);
    for (int64_t u = 0; u < tiles; ++u) {
      const int64_t t0 = pass0 + u * kTile;
      if (in_place) {
        key_tiles[u] = reinterpret_cast<const T*>(cur->k[u]);
      } else {
        const int tile_nb = static_cast<int>(std::min<int64_t>(kTile, last + 1 - t0));
        gather_key_tile<T>(table, kv, kv_head, t0, tile_nb, kt + u * hd * kTile);
        gathered[u] = kt + u * hd * kTile;
      }
    }
    // What this pass's score loop asks for: the next pass's rows, or the next item's first pass.
    const int64_t next0 = pass0 + pass_keys;
    if (next0 <= last) pass_rows(table, kv, kv_head, next0, std::min(pass_keys, last + 1 - next0), *ahead);
    const PassRows* next = next0 <= last ? ahead : following.keys > 0 ? &following : nullptr;
    // Scores of every state that sees the pass's first tile against all its tiles (a state that
    // does not see a later tile gets scores there that nothing reads).
    const int64_t first = first_state(pass0);
    for (int64_t c0 = first; c0 < states; c0 += kChains) {
      const int64_t live = std::min<int64_t>(kChains, states - c0);
      const float* qp[kChains];
      for (int64_t c = 0; c < live; ++c) {
        const int64_t st = c0 + c;
        qp[c] = q + (st / group) * q_stride + (st % group) * hd;
      }
      const auto si = static_cast<size_t>(live - 1), ti = static_cast<size_t>(tiles - 1);
      if (in_place)
        kScoreFns<T>[si][ti](qp, key_tiles, B, hd, scores + c0 * 16, scores_stride, c0 == first ? next : nullptr);
      else
        kScoreFns<float>[si][ti](qp, gathered, kTile, hd, scores + c0 * 16, scores_stride,
                                 c0 == first ? next : nullptr);
    }
    for (int64_t j = hd; next && j < next->keys; ++j) prefetch_bytes(next->v[j], next->v_bytes);
    for (int64_t u = 0; u < tiles; ++u) {
      const int64_t t0 = pass0 + u * kTile;
      const KeysSeen keys_seen{pos0, group, t0};
      const int64_t st_first = first_state(t0);
      float* tile_scores = scores + u * scores_stride;
      const TileProbs probs = softmax_tile(tile_scores, keys_seen, st_first, states, scale, mrun, lrun, corrs);
      // acc = acc * corr + sum_j p_j v_j, keys in order (each element its own chain over j); several
      // states at a time share each value row's loads and keep more FMA chains in flight.
      accumulate_values(hd, nv, tail, vrow + u * kTile, probs, corrs, keys_seen, st_first, states, acc);
    }
    std::swap(cur, ahead);
  }
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t h = 0; h < group; ++h) {
      const int64_t st = i * group + h;
      const __m512 inv = _mm512_set1_ps(lrun[st]);
      for (int64_t vv = 0; vv < nv; ++vv) {
        const __mmask16 m = vv == nv - 1 ? tail : static_cast<__mmask16>(0xffff);
        _mm512_mask_storeu_ps(out + i * q_stride + h * hd + vv * 16, m,
                              _mm512_div_ps(_mm512_loadu_ps(acc + (st * nv + vv) * 16), inv));
      }
    }
}

}  // namespace

void paged_attention_batch(const AttentionShape& shape, const float* q, const AttentionSequence* seqs, int64_t num_seqs,
                           const KVLayerView& kv, float* out) {
  const int64_t H = shape.num_heads, KVH = shape.num_kv_heads, hd = shape.head_dim, group = H / KVH;
  if (!cpu_has_avx512_bf16() && cpu_has_avx2()) {
    avx2::paged_attention_batch(shape, q, seqs, num_seqs, kv, out);
    return;
  }
  if (!cpu_has_avx512_bf16() || hd > kMaxVectors * 16) {  // no AVX-512, or heads wider than 256
    for (int64_t s = 0; s < num_seqs; ++s)
      paged_attention(shape, q + seqs[s].query_start * H * hd, seqs[s].num_queries, seqs[s].context_len,
                      seqs[s].block_table, kv, out + seqs[s].query_start * H * hd);
    return;
  }
  // Work items: (sequence, block of up to kQueryBlock query tokens, KV head).
  thread_local std::vector<int64_t> first_item;  // per sequence, then the total
  first_item.assign(static_cast<size_t>(num_seqs + 1), 0);
  double cost = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t blocks = (seqs[s].num_queries + kQueryBlock - 1) / kQueryBlock;
    first_item[static_cast<size_t>(s + 1)] = first_item[static_cast<size_t>(s)] + blocks * KVH;
    cost += static_cast<double>(seqs[s].num_queries) * static_cast<double>(seqs[s].context_len) * double(H * hd);
  }
  const int64_t total = first_item.back();
  const int64_t* offsets = first_item.data();
  ThreadPool& pool = ThreadPool::instance();
  const int threads = cost < kParallelAttentionCost ? 1 : pool.num_threads();
  const size_t scratch_floats = static_cast<size_t>(attend_scratch_floats(kQueryBlock * group, hd));
  std::atomic<int64_t> next{0};  // items handed out one at a time (their costs differ)

  const auto attend = kv.dtype == KVDType::kBFloat16 ? &attend_block<uint16_t> : &attend_block<float>;
  // Item i's sequence, KV head, and query tokens: positions pos0 .. pos0 + nq - 1, rows from row.
  struct Item {
    const AttentionSequence* seq;
    int64_t g, row, nq, pos0;
  };
  auto item_at = [&](int64_t item) {
    const int64_t s = std::upper_bound(offsets, offsets + num_seqs + 1, item) - offsets - 1;
    const AttentionSequence& seq = seqs[s];
    const int64_t local = item - offsets[s], t0 = local / KVH * kQueryBlock;
    return Item{&seq, local % KVH, seq.query_start + t0, std::min(kQueryBlock, seq.num_queries - t0),
                seq.context_len - seq.num_queries + t0};
  };
  pool.run(threads, [&](int) {
    thread_local std::vector<float> scratch;
    if (scratch.size() < scratch_floats) scratch.resize(scratch_floats);
    PassRows following_rows;
    int64_t item = next.fetch_add(1);
    while (item < total) {
      // While this item runs, the first pass of the thread's next one (claimed now, except in the
      // last round, where holding it could leave the other thread idle) is asked for.
      const int64_t following = next.load(std::memory_order_relaxed) + threads < total ? next.fetch_add(1) : total;
      following_rows.keys = 0;
      if (following < total) {
        const Item f = item_at(following);  // its keys: positions 0 .. pos0 + nq - 1
        pass_rows(f.seq->block_table, kv, f.g, 0, std::min(f.pos0 + f.nq, kTile * kMaxTilesPerPass), following_rows);
      }
      const Item it = item_at(item);
      attend(shape, group, q + (it.row * H + it.g * group) * hd, H * hd, it.nq, it.pos0, it.seq->block_table, kv, it.g,
             out + (it.row * H + it.g * group) * hd, scratch.data(), following_rows);
      item = following < total ? following : next.fetch_add(1);
    }
  });
}

}  // namespace pagellm::kernels
