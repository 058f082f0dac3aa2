#include "kernels/cpu/packed_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>

#include "kernels/cpu/amx_int8.h"
#include "kernels/cpu/amx_matmul.h"
#include "kernels/cpu/avx2_matmul.h"
#include "kernels/cpu/coded_bf16.h"
#include "kernels/cpu/fused.h"
#include "kernels/cpu/int8_vnni.h"
#include "kernels/cpu/panel_out.h"
#include "kernels/cpu/q8_activations.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/convert.h"
#include "util/error.h"

// GCC 12 flags the intentionally undefined source operand inside _mm512_cvtepi8_epi32 & co.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define PAGELLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c,fma")))
#define PAGELLM_AVX512_INLINE PAGELLM_AVX512 inline __attribute__((always_inline))
// The coded-weight kernels also need VBMI (vpermb, vpmultishiftqb); weights are only coded where
// the CPU has it.
#define PAGELLM_AVX512_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi,f16c,fma")))
#define PAGELLM_AVX512_VBMI_INLINE PAGELLM_AVX512_VBMI inline __attribute__((always_inline))

namespace pagellm::kernels {
namespace {

constexpr int64_t P = PackedWeight::kPanel;
constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8BlockBytes = P * 4 + kQ8Block * P;  // 16 scales + 32 x 16 int8 = 576

// x rounded up to a multiple of `multiple` (x >= 0).
constexpr int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// Kernel formats: how a panel's k-pair turns into two float32 vectors (or a bf16 pair vector).
// kFmtBF16Coded: vdpbf16ps on coded panels (coded_bf16.h), decoded in registers.
enum Fmt { kFmtF32, kFmtBF16, kFmtF16, kFmtQ8, kFmtBF16Dot, kFmtBF16Coded, kNumFmts };

int64_t panel_bytes_for(DType storage, int64_t k) {
  const int64_t pairs = (k + 1) / 2;
  switch (storage) {
    case DType::kBF16:  // whole AMX tiles (16 pairs), zero-padded
      return (k + amx::kTileK - 1) / amx::kTileK * amx::kTileBytes;
    case DType::kF16:
      return pairs * 64;
    case DType::kF32:
      return pairs * 128;
    case DType::kQ8_0:
      return k / kQ8Block * kQ8BlockBytes;
    default:
      break;
  }
  fail(ErrorCode::kUnsupported, "cannot pack {} weights", dtype_name(storage));
}

// ---- scalar access to the packed layout (packing and the portable path) ----

float packed_value(DType storage, const uint8_t* panel, int64_t j, int64_t k) {
  const int64_t kp = k / 2, s = k % 2;
  switch (storage) {
    case DType::kBF16: {
      uint16_t v;
      std::memcpy(&v, panel + kp * 64 + (j * 2 + s) * 2, 2);
      return bf16_to_f32(v);
    }
    case DType::kF16: {
      uint16_t v;
      std::memcpy(&v, panel + kp * 64 + (s * P + j) * 2, 2);
      return f16_to_f32(v);
    }
    case DType::kF32: {
      float v;
      std::memcpy(&v, panel + kp * 128 + (s * P + j) * 4, 4);
      return v;
    }
    case DType::kQ8_0: {
      const uint8_t* block = panel + (k / kQ8Block) * kQ8BlockBytes;
      float scale;
      std::memcpy(&scale, block + j * 4, 4);
      const auto q = static_cast<int8_t>(block[P * 4 + (k % kQ8Block) * P + j]);
      return static_cast<float>(q) * scale;
    }
    default:
      return 0.0f;
  }
}

float weight_at(bool coded, DType storage, const uint8_t* panel, int64_t j, int64_t k) {
  return coded ? bf16_to_f32(coded_bf16::value(panel, k / 2, static_cast<int>(j * 2 + k % 2)))
               : packed_value(storage, panel, j, k);
}

// Where value i (of 32) of column j sits in a Q8_0 block's int8 part: k-major, or (int8 compute)
// each column's 4 consecutive k together.
int64_t q8_offset(bool quads, int64_t i, int64_t j) { return quads ? (i / 4) * P * 4 + j * 4 + i % 4 : i * P + j; }

// Writes row `j` of a panel from one source weight row (converting when storage differs).
// q8_quads: a Q8_0 weight computed in int8 (the quad layout).
void pack_row(DType src_type, const uint8_t* src, int64_t k, DType storage, bool q8_quads, uint8_t* panel, int64_t j) {
  if (storage == DType::kQ8_0) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(src);
    for (int64_t b = 0; b < k / kQ8Block; ++b) {
      uint8_t* dst = panel + b * kQ8BlockBytes;
      const float scale = f16_to_f32(blocks[b].scale_f16);
      std::memcpy(dst + j * 4, &scale, 4);
      for (int64_t i = 0; i < kQ8Block; ++i)
        dst[P * 4 + q8_offset(q8_quads, i, j)] = static_cast<uint8_t>(blocks[b].qs[i]);
    }
    return;
  }
  if (src_type == DType::kBF16 && storage == DType::kBF16) {  // the common case: whole k-pairs
    for (int64_t kp = 0; kp < k / 2; ++kp) std::memcpy(panel + kp * 64 + j * 4, src + kp * 4, 4);
    if (k % 2) std::memcpy(panel + (k / 2) * 64 + j * 4, src + (k - 1) * 2, 2);
    return;
  }
  std::vector<float> row(static_cast<size_t>(k));
  const bool raw16 = src_type == storage && (storage == DType::kBF16 || storage == DType::kF16);
  if (!raw16) dequantize_row(src_type, src, row.data(), k);
  for (int64_t e = 0; e < k; ++e) {
    const int64_t kp = e / 2, s = e % 2;
    uint16_t h = 0;
    if (raw16) std::memcpy(&h, src + e * 2, 2);
    switch (storage) {
      case DType::kBF16:
        if (!raw16) h = f32_to_bf16(row[e]);
        std::memcpy(panel + kp * 64 + (j * 2 + s) * 2, &h, 2);
        break;
      case DType::kF16:
        if (!raw16) h = f32_to_f16(row[e]);
        std::memcpy(panel + kp * 64 + (s * P + j) * 2, &h, 2);
        break;
      case DType::kF32:
        std::memcpy(panel + kp * 128 + (s * P + j) * 4, &row[e], 4);
        break;
      default:
        break;
    }
  }
}

// ---- what one call's kernels share ----

struct Call {
  const uint8_t* w = nullptr;
  int64_t panel_bytes = 0;
  int64_t k = 0;
  const float* x = nullptr;
  int64_t ldx = 0;
  const uint32_t* xb = nullptr;  // bf16 pairs, [m][ldxb]
  int64_t ldxb = 0;
  bool prefetch = false;
  int64_t prefetch_ahead = 0;  // bytes past the line being read (set per kernel call)
  // Streaming a run of consecutive panels: a prefetch address past the end of its panel is moved
  // this far on, from the start of the next panel of this call to the start of the same stream's
  // panel in the next call (NR panels on), so every stream is already warm when the next call
  // starts it (0: no wrap).
  int64_t prefetch_wrap = 0;
  // Kernels reading decoded scratch prefetch the next panels' coded bytes instead: k-pair kp's at
  // next_coded[j] + kHeaderBytes + kp * kPairBytes.
  const uint8_t* const* next_coded = nullptr;
  // int8 compute: the rows quantized ([m][k] values, [m][k/32] scales)
  const int8_t* xq = nullptr;
  const float* xd = nullptr;
  const float* xd_tiles = nullptr;  // (the AMX int8 tiles: xd in amx::scales_to_tiles's order)
};

inline int64_t prefetch_offset(const Call& call, int64_t offset) {
  const int64_t ahead = offset + call.prefetch_ahead;
  return ahead >= call.panel_bytes ? ahead + call.prefetch_wrap : ahead;
}

// ---- AVX-512 kernels ----

template <int F>
PAGELLM_AVX512_INLINE void decode(const uint8_t* panel, int64_t kp, __m512& lo, __m512& hi) {
  if constexpr (F == kFmtBF16) {
    const __m512i v = _mm512_loadu_si512(panel + kp * 64);
    lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    hi = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  } else if constexpr (F == kFmtF16) {
    lo = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 64)));
    hi = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 64 + 32)));
  } else if constexpr (F == kFmtF32) {
    lo = _mm512_loadu_ps(panel + kp * 128);
    hi = _mm512_loadu_ps(panel + kp * 128 + 64);
  } else {  // Q8_0
    const uint8_t* block = panel + (kp / 16) * kQ8BlockBytes;
    const __m512 scale = _mm512_loadu_ps(block);
    const uint8_t* q = block + P * 4 + (kp % 16) * 2 * P;
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + P));
    lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), scale);
    hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), scale);
  }
}

// Bytes of one k-pair of one panel (Q8_0: on average, scales included) and the prefetch distance.
constexpr int64_t pair_bytes_of(int fmt) { return fmt == kFmtF32 ? 128 : fmt == kFmtQ8 ? kQ8BlockBytes / 16 : 64; }
template <int F>
constexpr int64_t kPairBytes = pair_bytes_of(F);
constexpr int64_t kPrefetchAhead = 2048;
// Batch decode in bf16: the first row tile streams its 2-3 panels from memory this far ahead (about
// 8-12 KiB in flight a core; 2 KiB left 5-15 % on the table, docs/perf/kernels.md, session 10).
constexpr int64_t kBatchPrefetchAhead = 4096;
// AMX work sharing: panel runs of at least kMinPanelRun, about kRunsPerThread per thread.
constexpr int64_t kMinPanelRun = 6;
constexpr int64_t kRunsPerThread = 4;
constexpr int64_t kMinDecodeRun = 4;
// Bytes of its next run a thread loads while it waits between decode calls (into a 1 MiB L2).
constexpr int64_t kWarmBytes = 256 << 10;
// Large batches: partial sums of a chunk of panels kept between K blocks (fits a 1 MiB L2 with
// the activation block).
constexpr int64_t kPartialSumBytes = 512 << 10;
// Large batches run in blocks of up to this many rows, each block one pass over the weights with
// K blocks as long as its activations allow. Every K block ends in a store and reload of the
// tile's partial sums, and with 512-row blocks (K blocks of 128 pairs) those round trips cost
// 10-15 % of a prefill matmul; ~128 rows keep K = 896 whole and give K = 4864 four blocks,
// re-reading the weights once per block instead (docs/perf/kernels.md). The blocks of one batch
// are made even (whole tiles), so 512 rows are four passes, not 4 x 120 and a 32-row straggler.
constexpr int64_t kMaxBlockRows = 144;
constexpr int64_t kActivationBlockBytes = 384 << 10;
// Weights at least this big are split across the threads even for one row (see threads_for).
constexpr int64_t kMinSplitWeightBytes = 256 << 10;
// Activations below this many elements are rounded (bf16) or quantized (int8) on the calling thread.
constexpr int64_t kParallelRoundingElems = 1 << 16;
// K-pairs of coded weights decoded at a time for batches up to kStreamRows rows: whole K up to
// 5,120 (two panels' lines, <= 640 KiB, stay in L2 while the row tiles run over them).
constexpr int64_t kScratchPairs = 2560;

// K-pairs per block for `rows` rows: as many as keep the rows' activations (bytes_per_pair each:
// a bf16 pair or two floats) within kActivationBlockBytes, at least 128, split evenly, a multiple
// of 16 (whole Q8_0 blocks).
int64_t k_block_pairs(int64_t kpairs, int64_t rows, int64_t bytes_per_pair) {
  const int64_t fit = std::max<int64_t>(128, kActivationBlockBytes / (rows * bytes_per_pair));
  const int64_t blocks = (kpairs + fit - 1) / fit;
  return round_up((kpairs + blocks - 1) / blocks, 16);
}

// A tile's accumulators: zero (first K block) or the partial sums parked in the output.
template <int MR, int NR>
PAGELLM_AVX512_INLINE void start_tile(__m512 (&acc)[MR][NR], __mmask16 (&mask)[NR], const PanelOut* outs, int64_t m0,
                                      bool first) {
#pragma GCC unroll 4
  for (int j = 0; j < NR; ++j) mask[j] = static_cast<__mmask16>((1u << outs[j].valid) - 1u);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j)
      acc[r][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[j], outs[j].c + (m0 + r) * outs[j].ldc);
}

// 16 columns of one row rounded to bf16 as round_to_bf16_pairs rounds them: a whole group of 16 by
// the vector instruction, a row's last partial group element by element.
PAGELLM_AVX512_INLINE void store_bf16(__m512 v, int valid, uint16_t* out) {
  if (valid == 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), (__m256i)_mm512_cvtneps_pbh(v));
    return;
  }
  alignas(64) float f[16];
  _mm512_store_ps(f, v);
  for (int i = 0; i < valid; ++i) out[i] = f32_to_bf16(f[i]);
}

// Stores a tile's sums, adding the bias after the last K block.
template <int MR, int NR>
PAGELLM_AVX512_INLINE void finish_tile(const __m512 (&acc)[MR][NR], const __mmask16 (&mask)[NR], const PanelOut* outs,
                                       int64_t m0, bool last) {
  if constexpr (NR % 2 == 0) {
    if (last && (outs[0].gated || outs[0].gated_bf16)) {  // (gate, up) panel pairs: one store of silu(gate) * up
#pragma GCC unroll 2
      for (int j = 0; j < NR; j += 2) {
        const __m512 bg = _mm512_loadu_ps(outs[j].bias), bu = _mm512_loadu_ps(outs[j + 1].bias);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m512 v = simd::silu_mul_ps(_mm512_add_ps(acc[r][j], bg), _mm512_add_ps(acc[r][j + 1], bu));
          if (outs[j].gated_bf16)
            store_bf16(v, outs[j].valid, outs[j].gated_bf16 + (m0 + r) * outs[j].ld_gated);
          else
            _mm512_mask_storeu_ps(outs[j].gated + (m0 + r) * outs[j].ld_gated, mask[j], v);
        }
      }
      return;
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < NR; ++j) {
    const __m512 b = last ? _mm512_loadu_ps(outs[j].bias) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 v = last ? _mm512_add_ps(acc[r][j], b) : acc[r][j];
      _mm512_mask_storeu_ps(outs[j].c + (m0 + r) * outs[j].ldc, mask[j], v);
    }
  }
}

// MR rows x NR panels over k-pairs [kp0, kp1). first: start from zero (else reload partial sums
// from the output); last: add the bias. Each lane's sum runs k in order.
template <int F, int MR, int NR>
PAGELLM_AVX512 void kernel_avx512(const Call& call, const uint8_t* const* panels, const PanelOut* outs, int64_t m0,
                                  int64_t kp0, int64_t kp1, bool first, bool last) {
  __m512 acc[MR][NR];
  __mmask16 mask[NR];
  start_tile<MR, NR>(acc, mask, outs, m0, first);

  if constexpr (F == kFmtBF16Dot) {
    const uint32_t* xr = call.xb + m0 * call.ldxb;
    for (int64_t kp = kp0; kp < kp1; ++kp) {
      __m512i w[NR];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) w[j] = _mm512_loadu_si512(panels[j] + kp * 64);
      if (call.prefetch) {
        if (call.next_coded) {  // 52 coded bytes a k-pair: every line is asked for
#pragma GCC unroll 4
          for (int j = 0; j < NR; ++j)
            _mm_prefetch(reinterpret_cast<const char*>(call.next_coded[j]) + coded_bf16::kHeaderBytes +
                             kp * coded_bf16::kPairBytes,
                         _MM_HINT_T1);
        } else {
#pragma GCC unroll 4
          for (int j = 0; j < NR; ++j)
            _mm_prefetch(reinterpret_cast<const char*>(panels[j]) + prefetch_offset(call, kp * 64), _MM_HINT_T1);
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xv = _mm512_set1_epi32(static_cast<int>(xr[r * call.ldxb + kp]));
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)w[j], (__m512bh)xv);
      }
    }
  } else {
    const float* xr = call.x + m0 * call.ldx;
    const int64_t full_end = std::min(kp1, call.k / 2);
    for (int64_t kp = kp0; kp < full_end; ++kp) {
      __m512 lo[NR], hi[NR];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) decode<F>(panels[j], kp, lo[j], hi[j]);
      if (call.prefetch) {  // small batches stream each weight byte once: ask L2 for it early
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j)
          _mm_prefetch(reinterpret_cast<const char*>(panels[j]) + prefetch_offset(call, kp * kPairBytes<F>),
                       _MM_HINT_T1);
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 x0 = _mm512_set1_ps(xr[r * call.ldx + 2 * kp]);
        const __m512 x1 = _mm512_set1_ps(xr[r * call.ldx + 2 * kp + 1]);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_fmadd_ps(lo[j], x0, acc[r][j]);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_fmadd_ps(hi[j], x1, acc[r][j]);
      }
    }
    if (full_end < kp1) {  // odd K: the last pair holds one value
      const int64_t kp = full_end;
      __m512 lo[NR], hi[NR];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) decode<F>(panels[j], kp, lo[j], hi[j]);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 x0 = _mm512_set1_ps(xr[r * call.ldx + 2 * kp]);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_fmadd_ps(lo[j], x0, acc[r][j]);
      }
    }
  }

  finish_tile<MR, NR>(acc, mask, outs, m0, last);
}

// ---- coded bf16 panels (coded_bf16.h; AVX-512 VBMI) ----

// Constants of the pair decoder: which packed code bytes each qword lane takes, and where each
// of its 8 codes starts.
struct PairDecoder {
  __m512i spread, shifts;
};

PAGELLM_AVX512_VBMI_INLINE PairDecoder pair_decoder() {
  alignas(64) uint8_t spread[64], shifts[64];
  for (int lane = 0; lane < 8; ++lane)
    for (int b = 0; b < 8; ++b) {
      spread[lane * 8 + b] = static_cast<uint8_t>(5 * lane + b);
      shifts[lane * 8 + b] = static_cast<uint8_t>(5 * b);
    }
  return {_mm512_load_si512(spread), _mm512_load_si512(shifts)};
}

// K-pairs kp and kp + 1 (kp even) of a coded panel as two raw 64-byte lines.
PAGELLM_AVX512_VBMI_INLINE void coded_pair(const uint8_t* panel, int64_t kp, const PairDecoder& d, __m512i table_hi,
                                           __m512i table_lo, __m512i& first, __m512i& second) {
  const uint8_t* record = panel + coded_bf16::kHeaderBytes + kp / 2 * coded_bf16::kRecordBytes;
  const __m512i sign_mantissa = _mm512_loadu_si512(record);
  const __m512i packed = _mm512_loadu_si512(record + coded_bf16::kCodeOffset);
  const __m512i codes = _mm512_multishift_epi64_epi8(d.shifts, _mm512_permutexvar_epi8(d.spread, packed));
  // table byte | (sign_mantissa & mask), written over the table bytes (0xf8: A | (B & C))
  const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutexvar_epi8(codes, table_hi), sign_mantissa,
                                               _mm512_set1_epi8(static_cast<char>(0x80)), 0xf8);
  const __m512i lo =
      _mm512_ternarylogic_epi32(_mm512_permutexvar_epi8(codes, table_lo), sign_mantissa, _mm512_set1_epi8(0x7f), 0xf8);
  first = _mm512_unpacklo_epi8(lo, hi);
  second = _mm512_unpackhi_epi8(lo, hi);
}

// The bf16 dot kernel on coded panels: each pair of k-pairs decoded in registers, then used as
// kernel_avx512<kFmtBF16Dot> uses a loaded line (the same chain per output element).
template <int MR, int NR>
PAGELLM_AVX512_VBMI void kernel_coded(const Call& call, const uint8_t* const* panels, const PanelOut* outs, int64_t m0,
                                      int64_t kp0, int64_t kp1, bool first, bool last) {
  __m512 acc[MR][NR];
  __mmask16 mask[NR];
  start_tile<MR, NR>(acc, mask, outs, m0, first);
  const uint32_t* xr = call.xb + m0 * call.ldxb;
  const PairDecoder d = pair_decoder();
  __m512i table_hi[NR], table_lo[NR];
#pragma GCC unroll 4
  for (int j = 0; j < NR; ++j) {
    table_hi[j] = _mm512_load_si512(panels[j]);
    table_lo[j] = _mm512_load_si512(panels[j] + coded_bf16::kLowTableOffset);
  }
  __m512i a[NR], b[NR];
  auto decode = [&](int64_t kp) PAGELLM_AVX512_VBMI __attribute__((always_inline)) {
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) coded_pair(panels[j], kp, d, table_hi[j], table_lo[j], a[j], b[j]);
  };
  auto dot = [&](int64_t kp, const __m512i* w) PAGELLM_AVX512_VBMI __attribute__((always_inline)) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i xv = _mm512_set1_epi32(static_cast<int>(xr[r * call.ldxb + kp]));
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)w[j], (__m512bh)xv);
    }
  };
  int64_t kp = kp0;
  if (kp < kp1 && kp % 2) {
    decode(kp - 1);
    dot(kp, b);
    ++kp;
  }
  for (; kp + 2 <= kp1; kp += 2) {
    if (call.prefetch) {  // 104 coded bytes a pair: two lines keep every line prefetched
      const int64_t offset = prefetch_offset(call, coded_bf16::kHeaderBytes + kp * coded_bf16::kPairBytes);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(panels[j]) + offset, _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(panels[j]) + offset + 64, _MM_HINT_T1);
      }
    }
    decode(kp);
    dot(kp, a);
    dot(kp + 1, b);
  }
  if (kp < kp1) {
    decode(kp);
    dot(kp, a);
  }
  finish_tile<MR, NR>(acc, mask, outs, m0, last);
}

// K-pairs [kp0, kp1) of a coded panel decoded into raw lines at out (64-byte aligned), with the
// coded stream prefetched ahead.
PAGELLM_AVX512_VBMI void decode_coded_lines(const uint8_t* panel, int64_t kp0, int64_t kp1, uint8_t* out) {
  const PairDecoder d = pair_decoder();
  const __m512i table_hi = _mm512_load_si512(panel);
  const __m512i table_lo = _mm512_load_si512(panel + coded_bf16::kLowTableOffset);
  for (int64_t kp = kp0 - kp0 % 2; kp < kp1; kp += 2) {
    const char* ahead =
        reinterpret_cast<const char*>(panel) + coded_bf16::kHeaderBytes + kp * coded_bf16::kPairBytes + kPrefetchAhead;
    _mm_prefetch(ahead, _MM_HINT_T1);
    _mm_prefetch(ahead + 64, _MM_HINT_T1);
    __m512i first, second;
    coded_pair(panel, kp, d, table_hi, table_lo, first, second);
    if (kp >= kp0) _mm512_store_si512(out + (kp - kp0) * 64, first);
    if (kp + 1 < kp1) _mm512_store_si512(out + (kp + 1 - kp0) * 64, second);
  }
}

using KernelFn = void (*)(const Call&, const uint8_t* const*, const PanelOut*, int64_t, int64_t, int64_t, bool, bool);

// kernels[fmt][nr index: 1, 2, 4, 3][mr - 1]
constexpr int kMaxMR = 8;
// Rows of the 4-panel kernels in batches (24 accumulators; 4 weight loads and 6 broadcasts per 24
// dot products). Used for the bf16 dot path, where it beat 8 rows x 2 panels (110M prefill +7-10 %).
constexpr int kWideMR = 6;
constexpr int64_t kStreamRows = 64;
// Q8_0 in int8 runs on AMX tiles (amx_int8.h) from this many rows; fewer run the VNNI tiles, which
// stream a decode step's weights with less work a byte. Both give the same bits.
constexpr int64_t kAmxInt8MinRows = 5;
template <int F, int MR, int NR>
constexpr KernelFn kernel_of() {
  if constexpr (F == kFmtBF16Coded)
    return &kernel_coded<MR, NR>;
  else
    return &kernel_avx512<F, MR, NR>;
}
template <int F, int NR, int... MRs>
constexpr std::array<KernelFn, kMaxMR> row_of(std::integer_sequence<int, MRs...>) {
  return {(MRs + 1 <= (NR == 4 ? kWideMR : kMaxMR) ? kernel_of<F, MRs + 1, NR>() : nullptr)...};
}
template <int F>
constexpr std::array<std::array<KernelFn, kMaxMR>, 4> table_of() {
  return {
      row_of<F, 1>(std::make_integer_sequence<int, kMaxMR>{}), row_of<F, 2>(std::make_integer_sequence<int, kMaxMR>{}),
      row_of<F, 4>(std::make_integer_sequence<int, kMaxMR>{}), row_of<F, 3>(std::make_integer_sequence<int, kMaxMR>{})};
}
const std::array<std::array<std::array<KernelFn, kMaxMR>, 4>, kNumFmts> kKernels = {
    table_of<kFmtF32>(), table_of<kFmtBF16>(),    table_of<kFmtF16>(),
    table_of<kFmtQ8>(),  table_of<kFmtBF16Dot>(), table_of<kFmtBF16Coded>()};

PAGELLM_AVX512 void prefetch_l2(const uint8_t* p, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i += 64) _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T1);
}

PAGELLM_AVX512 void to_bf16_pairs(const float* x, int64_t k, uint32_t* out) {
  auto* o = reinterpret_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), h);
  }
  for (; i < k; ++i) o[i] = f32_to_bf16(x[i]);
  if (k % 2) o[k] = 0;
}

// ---- portable path: the same per-element chain, one element at a time ----

// Q8_0 in int8: per block, the exact integer dot product, then one float multiply-add.
void portable_int8_panel(const Call& call, const uint8_t* panel, const PanelOut& out, int64_t r0, int64_t r1) {
  const int64_t blocks = call.k / kQ8Block;
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* xq = call.xq + r * call.k;
    const float* xd = call.xd + r * blocks;
    for (int j = 0; j < out.valid; ++j) {
      float acc = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* block = panel + b * kQ8BlockBytes;
        int32_t sum = 0;
        for (int64_t i = 0; i < kQ8Block; ++i)
          sum += static_cast<int8_t>(block[P * 4 + q8_offset(true, i, j)]) * int32_t{xq[b * kQ8Block + i]};
        float dw;
        std::memcpy(&dw, block + j * 4, 4);
        acc = std::fma(static_cast<float>(sum), dw * xd[b], acc);
      }
      out.c[r * out.ldc + j] = acc + out.bias[j];
    }
  }
}

void portable_panel(DType storage, bool coded, bool dot_pairs, const Call& call, const uint8_t* panel,
                    const PanelOut& out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    for (int j = 0; j < out.valid; ++j) {
      float acc = 0.0f;
      if (dot_pairs) {
        const auto* xb = reinterpret_cast<const uint16_t*>(call.xb + r * call.ldxb);
        for (int64_t e = 0; e < call.k; e += 2) {
          const float w1 = e + 1 < call.k ? weight_at(coded, storage, panel, j, e + 1) : 0.0f;
          acc += weight_at(coded, storage, panel, j, e) * bf16_to_f32(xb[e]) + w1 * bf16_to_f32(xb[e + 1]);
        }
      } else {
        for (int64_t e = 0; e < call.k; ++e)
          acc = std::fma(weight_at(coded, storage, panel, j, e), call.x[r * call.ldx + e], acc);
      }
      out.c[r * out.ldc + j] = acc + out.bias[j];
    }
  }
}

// Whether a Q8_0 weight holds a -128, which the int8 kernels' sign trick cannot take (llama.cpp's
// quantizer writes -127..127).
bool q8_holds_min(const TensorView& w) {
  for (int64_t r = 0; r < w.rows(); ++r) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(w.row(r));
    for (int64_t b = 0; b < w.cols() / kQ8Block; ++b)
      if (std::memchr(blocks[b].qs, 0x80, kQ8Block)) return true;
  }
  return false;
}

// rows(r0, r1) over the m rows of k activations a call prepares: on the calling thread when they
// are decode-sized (waking the pool would cost more), else split over the call's threads.
template <class Rows>
void prepare_rows(int64_t m, int64_t k, int threads, const Rows& rows) {
  if (m * k < kParallelRoundingElems)
    rows(0, m);
  else
    ThreadPool::instance().run(threads, [&](int t) { rows(m * t / threads, m * (t + 1) / threads); });
}

avx2::Format avx2_format(int fmt) {
  switch (fmt) {
    case kFmtBF16Dot:
      return avx2::Format::kBF16Dot;
    case kFmtBF16:
      return avx2::Format::kBF16;
    case kFmtF16:
      return avx2::Format::kF16;
    case kFmtQ8:
      return avx2::Format::kQ8_0;
    default:
      return avx2::Format::kF32;
  }
}

void to_bf16_pairs_portable(const float* x, int64_t k, uint32_t* out) {
  auto* o = reinterpret_cast<uint16_t*>(out);
  for (int64_t i = 0; i < k; ++i) o[i] = f32_to_bf16(x[i]);
  if (k % 2) o[k] = 0;
}

// Decode-sized calls (PackedWeight::uses_first_runs): run r (< reserved) is [r * panels,
// (r + 1) * panels), thread r's first, the one it warmed while waiting before the call. Whoever
// comes first takes a run; a late thread finds its run taken.
template <int MaxRuns>
class FirstRuns {
 public:
  FirstRuns(int reserved, int64_t panels, int64_t num_panels)
      : reserved_(std::min(reserved, MaxRuns)), panels_(panels), num_panels_(num_panels) {}
  // Where the runs claimed from the shared counter start.
  int64_t shared_start() const { return std::min(num_panels_, reserved_ * panels_); }
  // Run r as [p0, p1), unless it is empty or taken.
  bool take(int r, int64_t& p0, int64_t& p1) {
    if (r >= reserved_) return false;
    p0 = std::min(num_panels_, r * panels_);
    p1 = std::min(num_panels_, p0 + panels_);
    return p0 < p1 && !taken_[static_cast<size_t>(r)].exchange(true, std::memory_order_relaxed);
  }
  // Each thread's own run first, then (through `shared`) the counter's, then the late threads'.
  template <typename Compute, typename ClaimShared>
  void work(int t, Compute&& compute, ClaimShared&& shared) {
    int64_t p0 = 0, p1 = 0;
    if (take(t, p0, p1)) compute(p0, p1);
    while (shared(p0, p1)) compute(p0, p1);
    for (int r = 0; r < reserved_; ++r)
      if (take(r, p0, p1)) compute(p0, p1);
  }

 private:
  int reserved_;
  int64_t panels_, num_panels_;
  std::array<std::atomic<bool>, MaxRuns> taken_{};
};

}  // namespace

namespace {
bool g_force_portable = false;
bool g_force_avx2 = false;
}  // namespace

void round_to_bf16_pairs(const float* x, int64_t k, uint32_t* out) {
  if (cpu_has_avx512_bf16())
    to_bf16_pairs(x, k, out);
  else
    to_bf16_pairs_portable(x, k, out);
}

void force_portable_kernels(bool force) { g_force_portable = force; }

void force_avx2_kernels(bool force) { g_force_avx2 = force; }

bool cpu_has_avx2() { return !g_force_portable && avx2::available(); }

bool cpu_has_avx512_vnni() { return !g_force_portable && !g_force_avx2 && vnni::available(); }

bool cpu_codes_weights() { return cpu_has_avx512_bf16() && __builtin_cpu_supports("avx512vbmi") && !amx::available(); }

bool cpu_has_avx512_bf16() {
  if (g_force_portable || g_force_avx2) return false;
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("f16c") &&
                          __builtin_cpu_supports("fma");
  return has;
}

PackedWeight::~PackedWeight() { ThreadPool::release_process_warm_regions(); }

PackedWeight::PackedWeight(const TensorView& w, const float* bias, MatmulPrecision precision, WeightArena* arena,
                           bool code)
    : PackedWeight(std::span<const LinearPart>(std::array<LinearPart, 1>{LinearPart{&w, bias}}), precision, arena,
                   code) {}

PackedWeight::PackedWeight(std::span<const LinearPart> parts, MatmulPrecision precision, WeightArena* arena, bool code,
                           Epilogue epilogue)
    : epilogue_(epilogue) {
  if (parts.empty()) fail(ErrorCode::kInternal, "PackedWeight needs at least one weight");
  if (gated() && (parts.size() != 2 || parts[0].weight->rows() != parts[1].weight->rows()))
    fail(ErrorCode::kInternal, "a SiLU-gated weight needs a gate and an up part of one size");
  const DType src = parts[0].weight->dtype;
  k_ = parts[0].weight->cols();
  for (const LinearPart& p : parts)
    if (p.weight->dtype != src || p.weight->cols() != k_ || p.weight->shape.size() != 2)
      fail(ErrorCode::kInternal, "fused weights need one dtype and input size ({} {} vs {} {})",
           dtype_name(p.weight->dtype), p.weight->shape_string(), dtype_name(src), k_);
  storage_ = src;
  if (precision == MatmulPrecision::kBF16 && src != DType::kQ8_0) storage_ = DType::kBF16;
  bf16_compute_ = precision == MatmulPrecision::kBF16 && storage_ == DType::kBF16;
  if (storage_ == DType::kQ8_0 && k_ % kQ8Block != 0)
    fail(ErrorCode::kInvalidModel, "Q8_0 weight with {} columns (not a multiple of 32)", k_);
  int8_compute_ = precision == MatmulPrecision::kInt8 && storage_ == DType::kQ8_0 &&
                  std::none_of(parts.begin(), parts.end(), [](const LinearPart& p) { return q8_holds_min(*p.weight); });
  raw_panel_bytes_ = panel_bytes_for(storage_, k_);
  panel_bytes_ = raw_panel_bytes_;

  for (const LinearPart& p : parts) {
    const int64_t n = p.weight->rows();
    parts_.push_back({n, num_panels_});
    for (int64_t i = 0; i < (n + P - 1) / P; ++i) panel_part_.push_back(static_cast<int32_t>(parts_.size() - 1));
    num_panels_ += (n + P - 1) / P;
  }
  bias_.assign(static_cast<size_t>(num_panels_ * P), 0.0f);
  for (size_t pi = 0; pi < parts.size(); ++pi)
    if (parts[pi].bias)
      for (int64_t row = 0; row < parts_[pi].n; ++row)
        bias_[static_cast<size_t>(panel_of(pi, row) * P + row % P)] = parts[pi].bias[row];
  coded_ = code && bf16_compute_ && cpu_codes_weights();
  if (!coded_) {
    allocate(static_cast<size_t>(num_panels_ * panel_bytes_), arena);
    pack(parts, src, data_);
    return;
  }
  AlignedBuffer raw(static_cast<size_t>(num_panels_ * raw_panel_bytes_));
  pack(parts, src, raw.data());
  code_panels(raw.data(), arena);
}

void PackedWeight::allocate(size_t bytes, WeightArena* arena) {
  data_bytes_ = bytes;
  if (arena) {
    data_ = arena->allocate(bytes);
  } else {
    owned_ = AlignedBuffer(bytes);
    data_ = owned_.data();
  }
}

void PackedWeight::pack(std::span<const LinearPart> parts, DType src, uint8_t* out) const {
  ThreadPool& pool = ThreadPool::instance();
  for (size_t pi = 0; pi < parts.size(); ++pi) {
    const int64_t n = parts_[pi].n;
    pool.run(pool.num_threads(), [&](int t) {
      for (int64_t row = n * t / pool.num_threads(); row < n * (t + 1) / pool.num_threads(); ++row)
        pack_row(src, parts[pi].weight->row(row), k_, storage_, int8_compute_,
                 out + panel_of(pi, row) * raw_panel_bytes_, row % P);
    });
  }
}

// Codes every panel that fits the code's window; the others follow the coded ones, raw.
void PackedWeight::code_panels(const uint8_t* raw, WeightArena* arena) {
  const int64_t kpairs = raw_panel_bytes_ / 64;  // whole 16-pair tiles, zero-padded
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.num_threads();
  std::vector<int> base(static_cast<size_t>(num_panels_));
  pool.run(threads, [&](int t) {
    for (int64_t p = num_panels_ * t / threads; p < num_panels_ * (t + 1) / threads; ++p)
      base[static_cast<size_t>(p)] =
          coded_bf16::base_for(reinterpret_cast<const uint16_t*>(raw + p * raw_panel_bytes_), kpairs);
  });
  if (gated()) {  // a (gate, up) pair runs in one tile, with one kernel: both coded or both raw
    for (size_t p = 0; p + 1 < base.size(); p += 2)
      if (base[p] < 0 || base[p + 1] < 0) base[p] = base[p + 1] = -1;
  }
  panel_bytes_ = coded_bf16::panel_bytes(kpairs);
  raw_offset_.assign(static_cast<size_t>(num_panels_), -1);
  int64_t end = num_panels_ * panel_bytes_;
  for (int64_t p = 0; p < num_panels_; ++p) {
    if (base[static_cast<size_t>(p)] >= 0) continue;
    raw_offset_[static_cast<size_t>(p)] = end;
    end += raw_panel_bytes_;
  }
  allocate(static_cast<size_t>(end + coded_bf16::kReadSlack), arena);
  data_bytes_ = static_cast<size_t>(end);
  pool.run(threads, [&](int t) {
    for (int64_t p = num_panels_ * t / threads; p < num_panels_ * (t + 1) / threads; ++p) {
      const uint8_t* from = raw + p * raw_panel_bytes_;
      const int b = base[static_cast<size_t>(p)];
      if (b >= 0)
        coded_bf16::encode(reinterpret_cast<const uint16_t*>(from), kpairs, b, data_ + p * panel_bytes_);
      else
        std::memcpy(data_ + raw_offset_[static_cast<size_t>(p)], from, static_cast<size_t>(raw_panel_bytes_));
    }
  });
}

const uint8_t* PackedWeight::panel_data(int64_t p) const {
  const int64_t raw_at = coded_ ? raw_offset_[static_cast<size_t>(p)] : -1;
  return data_ + (raw_at >= 0 ? raw_at : p * panel_bytes_);
}

int64_t PackedWeight::panel_of(size_t part, int64_t row) const {
  return gated() ? 2 * (row / P) + static_cast<int64_t>(part) : parts_[part].first_panel + row / P;
}

int64_t PackedWeight::raw_panels() const {
  return std::count_if(raw_offset_.begin(), raw_offset_.end(), [](int64_t at) { return at >= 0; });
}

bool PackedWeight::uses_amx() const { return bf16_compute_ && !coded_ && amx::available(); }

bool PackedWeight::uses_amx_int8(int64_t m) const {
  return int8_compute_ && m >= kAmxInt8MinRows && cpu_has_avx512_vnni() && amx::int8_available();
}

void PackedWeight::forward(const float* x, int64_t m, std::span<float* const> ys, const PackedWeight* next) const {
  run(x, Bf16Rows{}, m, ys, nullptr, 0, next);
}

bool PackedWeight::takes_bf16_rows() const { return bf16_compute_ && !uses_amx(); }

void PackedWeight::forward(Bf16Rows x, int64_t m, std::span<float* const> ys, const PackedWeight* next) const {
  check_bf16_rows(x);
  run(nullptr, x, m, ys, nullptr, 0, next);
}

void PackedWeight::forward(Bf16Rows x, int64_t m, uint32_t* y, int64_t ld_y, const PackedWeight* next) const {
  check_bf16_rows(x);
  if (!gated() || ld_y < (parts_[0].n + 1) / 2)
    fail(ErrorCode::kInternal, "PackedWeight::forward: bf16 output from a weight that is not SiLU-gated in bf16");
  run(nullptr, x, m, {}, y, ld_y, next);
}

void PackedWeight::check_bf16_rows(Bf16Rows x) const {
  if (!takes_bf16_rows() || !x.pairs || x.ld < (k_ + 1) / 2)
    fail(ErrorCode::kInternal, "PackedWeight::forward: bf16 rows of {} pairs for a weight that takes {}", x.ld,
         takes_bf16_rows() ? "(in_features + 1) / 2" : "floats");
}

void PackedWeight::run(const float* x, Bf16Rows xb, int64_t m, std::span<float* const> ys, uint32_t* y_bf16,
                       int64_t ld_y_bf16, const PackedWeight* next) const {
  if (!y_bf16 && ys.size() != num_outputs())
    fail(ErrorCode::kInternal, "PackedWeight::forward: {} outputs for {}", ys.size(), num_outputs());
  if (m <= 0 || num_panels_ == 0) return;
  // (int8 compute runs on the AVX2 path's loop on AVX-512 CPUs too, with the VNNI tiles there)
  const bool avx = cpu_has_avx512_bf16() && !int8_compute_;
  const bool avx2 = !avx && !coded_ && cpu_has_avx2();  // (coded panels: AVX-512 VBMI only)
  if (avx && uses_amx()) {                              // (float rows only: takes_bf16_rows() is false here)
    forward_amx(x, m, ys, next);
    return;
  }
  const int64_t kpairs = (k_ + 1) / 2;

  // Up to kStreamRows rows (activations <= 1.25 MB for K = 4864: they stay in L2) each panel is
  // streamed whole (no K blocks) with prefetch, reading every weight byte once.
  Call call{data_, panel_bytes_, k_, x, k_, nullptr, kpairs, m <= kStreamRows};
  thread_local std::vector<uint32_t> xb_scratch;  // grows to the largest batch, then stays
  if (xb.pairs) {
    call.xb = xb.pairs;
    call.ldxb = xb.ld;
  } else if (bf16_compute_) {
    if (xb_scratch.size() < static_cast<size_t>(m * kpairs)) xb_scratch.resize(static_cast<size_t>(m * kpairs));
    call.xb = xb_scratch.data();
  }
  const int fmt = bf16_compute_              ? kFmtBF16Dot
                  : storage_ == DType::kBF16 ? kFmtBF16
                  : storage_ == DType::kF16  ? kFmtF16
                  : storage_ == DType::kQ8_0 ? kFmtQ8
                                             : kFmtF32;

  ThreadPool& pool = ThreadPool::instance();
  const int threads = threads_for(m);

  const bool int8_on_amx = uses_amx_int8(m);
  if (int8_compute_) {
    thread_local std::vector<int8_t> xq_scratch;  // grow to the largest batch, then stay
    thread_local std::vector<float> xd_scratch;
    const auto values = static_cast<size_t>(m * k_);
    // (the AMX tiles read whole 16-row tiles: readable rows past the last)
    const size_t readable = int8_on_amx ? values + static_cast<size_t>(amx::kTileRows * k_) : values;
    if (xq_scratch.size() < readable) xq_scratch.resize(readable);
    if (xd_scratch.size() < values / kQ8Block) xd_scratch.resize(values / kQ8Block);
    int8_t* xq = xq_scratch.data();  // the caller's scratch, filled by all threads
    float* xd = xd_scratch.data();
    call.xq = xq;
    call.xd = xd;
    prepare_rows(m, k_, threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) quantize_row_q8(x + r * k_, k_, xq + r * k_, xd + r * (k_ / kQ8Block));
    });
    if (int8_on_amx) {
      thread_local std::vector<float> tile_scratch;
      const auto tile_scales = static_cast<size_t>(round_up(m, amx::kTileRows) * k_ / kQ8Block);
      if (tile_scratch.size() < tile_scales) tile_scratch.resize(tile_scales);
      amx::scales_to_tiles(xd, m, k_ / kQ8Block, tile_scratch.data());
      call.xd_tiles = tile_scratch.data();
    }
  }
  if (bf16_compute_ && !xb.pairs) {
    prepare_rows(m, k_, threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        auto* xb = const_cast<uint32_t*>(call.xb) + r * kpairs;  // the caller's scratch, not this thread's
        if (avx)
          to_bf16_pairs(x + r * k_, k_, xb);
        else
          to_bf16_pairs_portable(x + r * k_, k_, xb);
      }
    });
  }
  // Threads take work from a shared counter, so a thread slowed by a neighbour on the shared cores
  // does not hold the other back (fixed halves left 17 % of a decode step waiting). Decode-sized
  // batches claim runs of panels over all rows, each about a 2 * threads-th of what is left (whole
  // groups of 4 panels, so the 4-stream kernel runs throughout): long sequential weight streams
  // first, short runs at the end, so neither thread idles long at the barrier. Bigger batches take
  // (row block, run of panels) items, row blocks first, so both threads share a row block's
  // activations.
  const bool stream_rows = m <= kStreamRows;
  const int64_t run_panels = round_up(std::max<int64_t>(4, num_panels_ / (threads * kRunsPerThread)), 4);
  const int64_t runs = (num_panels_ + run_panels - 1) / run_panels;
  const int64_t row_blocks = (m + kMaxBlockRows - 1) / kMaxBlockRows;
  const int64_t tile_rows = fmt == kFmtBF16Dot ? kWideMR : int8_on_amx ? amx::kTileRows : kMaxMR;
  const int64_t block_rows = round_up((m + row_blocks - 1) / row_blocks, tile_rows);
  const int64_t items = runs * ((m + block_rows - 1) / block_rows);
  // Decode-sized calls: each thread's first run is fixed (the one it warmed while waiting before
  // this call); a thread that is late finds its run taken by the other.
  const bool first_runs = uses_first_runs(m, threads);
  const int64_t first_panels = first_runs ? first_run_panels(threads) : 0;
  FirstRuns<kMaxFirstRuns> first_run_claims(first_runs ? threads : 0, first_panels, num_panels_);
  std::atomic<int64_t> next_panel{first_run_claims.shared_start()};
  auto claim_panels = [&](int64_t& p0, int64_t& p1) {
    int64_t cur = next_panel.load(std::memory_order_relaxed);
    for (;;) {
      if (cur >= num_panels_) return false;
      const int64_t left = num_panels_ - cur;
      const int64_t take = std::min(left, round_up(std::max<int64_t>(kMinDecodeRun, left / (2 * threads)), 4));
      if (next_panel.compare_exchange_weak(cur, cur + take, std::memory_order_relaxed)) {
        p0 = cur;
        p1 = cur + take;
        return true;
      }
    }
  };
  // Decode (m <= 4): 4 panels at a time for memory-level parallelism. Up to kStreamRows rows:
  // whole K per pass (weights streamed once, prefetched). Bigger batches: blocks of rows, each
  // a pass over the panels whose activations stay in L2 (K blocks only where a block's
  // activations would not fit), over chunks of panels whose partial sums (rows x chunk x 16
  // floats) stay in L2 too between K blocks instead of going to memory.
  const bool small = m <= 4;
  const bool k_blocked = m > kStreamRows;
  const int64_t row_block = k_blocked ? block_rows : m;
  // Coded weights in batches are decoded a K block at a time into scratch that stays in cache.
  const bool decode_to_scratch = coded_ && !small;
  const int64_t kc = k_blocked           ? k_block_pairs(kpairs, std::min(m, row_block), fmt == kFmtBF16Dot ? 4 : 8)
                     : decode_to_scratch ? std::min(kpairs, kScratchPairs)
                                         : kpairs;
  // A gated weight's kernels store silu(gate) * up from their accumulators; partial sums between
  // K blocks, and the portable path's sums, wait in parking.
  float* const parking = gated() && (!avx || kc < kpairs) ? this->parking(m) : nullptr;
  // The AMX int8 tiles store silu(gate) * up themselves (float outputs; the panels of a call come in
  // whole runs of 4, so a pair is never split).
  const bool int8_fused = int8_on_amx && gated() && !y_bf16;
  auto compute_panels = [&](int64_t p_begin, int64_t p_end, int64_t rows_begin, int64_t rows_end) {
    auto out_of = [&](int64_t panel) { return panel_out(panel, ys, parking, avx || int8_fused, y_bf16, ld_y_bf16); };

    if (avx2) {
      const avx2::Operands op{int8_compute_ ? avx2::Format::kQ8Int8 : avx2_format(fmt),
                              k_,
                              x,
                              k_,
                              call.xb,
                              call.ldxb,
                              call.xq,
                              call.xd,
                              call.xd_tiles};
      constexpr int64_t kGroup = 16;
      for (int64_t p = p_begin; p < p_end; p += kGroup) {
        const int64_t count = std::min(kGroup, p_end - p);
        std::array<const uint8_t*, kGroup> panels;
        std::array<PanelOut, kGroup> outs;
        for (int64_t j = 0; j < count; ++j) {
          panels[static_cast<size_t>(j)] = panel_data(p + j);
          outs[static_cast<size_t>(j)] = out_of(p + j);
        }
        if (int8_on_amx)
          amx::multiply_int8(op, panels.data(), outs.data(), count, rows_begin, rows_end);
        else if (int8_compute_ && cpu_has_avx512_vnni())
          vnni::multiply_int8(op, panels.data(), outs.data(), count, rows_begin, rows_end);
        else
          avx2::multiply_panels(op, panels.data(), outs.data(), count, rows_begin, rows_end);
      }
    } else if (int8_compute_) {
      for (int64_t p = p_begin; p < p_end; ++p)
        portable_int8_panel(call, panel_data(p), out_of(p), rows_begin, rows_end);
    } else if (!avx) {
      for (int64_t p = p_begin; p < p_end; ++p)
        portable_panel(storage_, panel_coded(p), bf16_compute_, call, panel_data(p), out_of(p), rows_begin, rows_end);
    } else {
      const int64_t pair_bytes = pair_bytes_of(fmt);
      const int mr_max = small ? static_cast<int>(m) : kMaxMR;
      const bool wide = fmt == kFmtBF16Dot && k_blocked;  // batch decode (M <= 64): 8 x 2 was 5 % faster
      // Batch decode in bf16: 8 rows x 3 panels (24 accumulators, more independent chains than
      // two vdpbf16ps a cycle at 6 cycles' latency need, and 11 loads per 24 dot products instead
      // of 10 per 16; 3-10 % faster than 8 x 2 for M = 16-64, docs/perf/kernels.md). Not for a
      // gated weight, whose tiles hold (gate, up) pairs, nor coded ones.
      const bool three_panels = fmt == kFmtBF16Dot && !small && !k_blocked && !gated() && !coded_;
      // Whole groups of 4 panels (a 62-panel chunk left a 2-panel tail to the 8 x 2 kernel in every
      // run); one chunk when K is not blocked, as there is no partial sum to keep.
      const int64_t chunk =
          decode_to_scratch && !k_blocked && kc < kpairs ? 4  // a group's K blocks in a row, streamed in order
          : k_blocked && kc < kpairs
              ? std::max<int64_t>(
                    4, kPartialSumBytes / (std::min(m, row_block) * P * static_cast<int64_t>(sizeof(float))) / 4 * 4)
              : p_end - p_begin;
      for (int64_t r_begin = rows_begin; r_begin < rows_end; r_begin += row_block) {
        const int64_t r_end = std::min(rows_end, r_begin + row_block);
        for (int64_t c_begin = p_begin; c_begin < p_end; c_begin += chunk) {
          const int64_t c_end = std::min(p_end, c_begin + chunk);
          for (int64_t kp0 = 0; kp0 < kpairs; kp0 += kc) {
            const int64_t kp1 = std::min(kpairs, kp0 + kc);
            for (int64_t p = c_begin; p < c_end;) {
              const int64_t left = c_end - p;
              int nr = ((small || wide) && left >= 4)           ? 4
                       : three_panels && left >= 3 && left != 4 ? 3
                       : left >= 2                              ? 2
                                                                : 1;
              // A raw panel among coded ones runs alone (a gated weight's raw pair together), with
              // the raw kernel.
              const int unit = gated() ? 2 : 1;
              for (int j = 0; coded_ && small && j < nr; j += unit)
                if (!panel_coded(p + j)) nr = j == 0 ? unit : j >= 2 ? 2 : 1;
              const int rows = small ? mr_max : nr == 4 ? kWideMR : kMaxMR;
              const int nr_index = nr == 4 ? 2 : nr == 3 ? 3 : nr - 1;
              const uint8_t* panels[4];
              PanelOut outs[4];
              for (int j = 0; j < nr; ++j) {
                panels[j] = panel_data(p + j);
                outs[j] = out_of(p + j);
              }
              Call this_call = call;
              int kernel_fmt = fmt;
              const uint8_t* next_coded[4] = {};
              if (decode_to_scratch) {
                // Raw lines of this K block, indexed by absolute k-pair like a raw panel. The row
                // tiles over them prefetch the next group's coded K block, which the memory would
                // otherwise idle through.
                thread_local AlignedBuffer scratch;
                const int64_t bytes = 4 * kc * 64;
                if (static_cast<int64_t>(scratch.size()) < bytes) scratch = AlignedBuffer(static_cast<size_t>(bytes));
                for (int j = 0; j < nr; ++j) {
                  // (no coded panel next: these panels' own bytes, read already, are asked for again)
                  next_coded[j] = p + nr + j < c_end && panel_coded(p + nr + j) ? panel_data(p + nr + j) : panels[j];
                  if (!panel_coded(p + j)) continue;
                  uint8_t* lines = scratch.data() + j * kc * 64;
                  decode_coded_lines(panels[j], kp0, kp1, lines);
                  panels[j] = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(lines) - kp0 * 64);
                }
              } else if (coded_) {
                if (panel_coded(p))
                  kernel_fmt = kFmtBF16Coded;
                else
                  this_call.panel_bytes = raw_panel_bytes_;
              }
              if (k_blocked && !decode_to_scratch) {  // the next panels' K block, into L2 while these run
                for (int64_t q = p + nr; q < std::min(c_end, p + 2 * nr); ++q)
                  prefetch_l2(panel_data(q) + kp0 * pair_bytes, (kp1 - kp0) * pair_bytes);
              }
              for (int64_t m0 = r_begin; m0 < r_end; m0 += rows) {
                const int mr = static_cast<int>(std::min<int64_t>(rows, r_end - m0));
                // The first row block streams these panels from memory, prefetching just ahead; the
                // later ones read them from cache, so they prefetch the next panels instead and the
                // memory stays busy through the whole pass. In bf16 the later ones' prefetches cost
                // more than they gave (5-15 % on cold batch projections): only the first one asks,
                // further ahead.
                this_call.prefetch_ahead = m0 == r_begin ? kPrefetchAhead : nr * panel_bytes_;
                this_call.prefetch_wrap = m0 == r_begin && !k_blocked ? (nr - 1) * panel_bytes_ : 0;
                if (stream_rows && !small && kernel_fmt == kFmtBF16Dot) {
                  this_call.prefetch = m0 == r_begin;
                  this_call.prefetch_ahead = kBatchPrefetchAhead;
                }
                if (decode_to_scratch) {
                  this_call.prefetch = m0 == r_begin;
                  this_call.next_coded = next_coded;
                }
                kKernels[static_cast<size_t>(kernel_fmt)][static_cast<size_t>(nr_index)][static_cast<size_t>(mr - 1)](
                    this_call, panels, outs, m0, kp0, kp1, kp0 == 0, kp1 == kpairs);
              }
              p += nr;
            }
          }
        }
      }
    }
  };
  pool.run(threads, [&](int t) {
    pool.warm_when_idle(next && m <= kMaxWarmRows ? next->first_run_region(t, m) : WarmRegion{});
    if (stream_rows) {
      first_run_claims.work(
          t, [&](int64_t p0, int64_t p1) { compute_panels(p0, p1, 0, m); }, claim_panels);
      return;
    }
    for (int64_t item = next_panel.fetch_add(1); item < items; item = next_panel.fetch_add(1)) {
      const int64_t p0 = item % runs * run_panels, r0 = item / runs * block_rows;
      compute_panels(p0, std::min(num_panels_, p0 + run_panels), r0, std::min(m, r0 + block_rows));
    }
  });
  if (gated() && !avx && !int8_fused) silu_mul_from_parking(parking, m, y_bf16 ? nullptr : ys[0], y_bf16, ld_y_bf16);
  if (y_bf16 && parts_[0].n % 2) {  // an odd row's last pair ends in 0 (Bf16Rows)
    for (int64_t r = 0; r < m; ++r) reinterpret_cast<uint16_t*>(y_bf16 + r * ld_y_bf16)[parts_[0].n] = 0;
  }
}

bool PackedWeight::uses_first_runs(int64_t m, int threads) const {
  return m <= kMaxWarmRows && threads > 1 && (cpu_has_avx512_bf16() || cpu_has_avx2());
}

int64_t PackedWeight::decode_panel_group() const { return uses_amx() ? amx::kMaxPanelsPerPass : 4; }

int64_t PackedWeight::first_run_panels(int threads) const {
  const int64_t group = decode_panel_group();
  return round_up(std::max<int64_t>(kMinDecodeRun, num_panels_ / (2 * threads)), group);
}

// The first kWarmBytes of thread t's first run in the order the decode kernels read it (groups of
// decode_panel_group() panels side by side): whole groups when a group fits (a contiguous range),
// else the start of each of the first group's streams.
WarmRegion PackedWeight::first_run_region(int t, int64_t m) const {
  const int threads = threads_for(m);
  if (!uses_first_runs(m, threads) || t >= std::min(threads, kMaxFirstRuns)) return {};
  const int64_t first_panels = first_run_panels(threads);
  const int64_t p0 = std::min(num_panels_, t * first_panels);
  const int64_t p1 = std::min(num_panels_, p0 + first_panels);
  if (p0 >= p1) return {};
  const int64_t warm = kWarmBytes;
  const int64_t streams = std::min(decode_panel_group(), p1 - p0);
  if (streams * panel_bytes_ <= warm)
    return WarmRegion{data_ + p0 * panel_bytes_, 0, 1, std::min(warm, (p1 - p0) * panel_bytes_)};
  return WarmRegion{data_ + p0 * panel_bytes_, panel_bytes_, streams, warm / streams / 64 * 64};
}

// Small problems stay on the calling thread; the split never changes a result. Small means few
// FLOPs and few weight bytes: a decode step's o_proj (1-2 MFLOP but 1-2 MB streamed from memory)
// is bandwidth-bound and takes both cores' bandwidth.
int PackedWeight::threads_for(int64_t m) const {
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(num_panels_ * P) * static_cast<double>(k_);
  const int64_t weight_bytes = num_panels_ * panel_bytes_;
  return flops < 2e6 && weight_bytes < kMinSplitWeightBytes ? 1 : ThreadPool::instance().num_threads();
}

PanelOut PackedWeight::panel_out(int64_t panel, std::span<float* const> ys, float* parking, bool fused,
                                 uint32_t* y_bf16, int64_t ld_y_bf16) const {
  if (gated()) {
    const int64_t n = parts_[0].n, col = panel / 2 * P, up = panel % 2;
    PanelOut out{parking ? parking + up * n + col : nullptr, 2 * n, static_cast<int>(std::min<int64_t>(P, n - col)),
                 bias_.data() + panel * P};
    if (fused && !up) {
      if (y_bf16) {
        out.gated_bf16 = reinterpret_cast<uint16_t*>(y_bf16) + col;
        out.ld_gated = 2 * ld_y_bf16;
      } else {
        out.gated = ys[0] + col;
        out.ld_gated = n;
      }
    }
    return out;
  }
  const auto part_index = static_cast<size_t>(panel_part_[static_cast<size_t>(panel)]);
  const Part& part = parts_[part_index];
  const int64_t col = (panel - part.first_panel) * P;
  return PanelOut{ys[part_index] + col, part.n, static_cast<int>(std::min<int64_t>(P, part.n - col)),
                  bias_.data() + panel * P};
}

float* PackedWeight::parking(int64_t m) const {
  thread_local std::vector<float> park;  // the caller's; grows to the largest batch, then stays
  const auto floats = static_cast<size_t>(m * 2 * parts_[0].n);
  if (park.size() < floats) park.resize(floats);
  return park.data();
}

void PackedWeight::silu_mul_from_parking(const float* parking, int64_t m, float* y, uint32_t* y_bf16,
                                         int64_t ld_y_bf16) const {
  const int64_t n = parts_[0].n;
  parallel_for_rows(m, n, [&](int64_t r0, int64_t r1) {
    thread_local std::vector<float> row;  // bf16 output: each row rounded from here while in L1
    if (y_bf16 && row.size() < static_cast<size_t>(n)) row.resize(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      silu_mul_fast(parking + r * 2 * n, parking + r * 2 * n + n, n, y_bf16 ? row.data() : y + r * n);
      if (y_bf16) round_to_bf16_pairs(row.data(), n, y_bf16 + r * ld_y_bf16);
    }
  });
}

// kBF16 on AMX tiles (see amx_matmul.h): activations rounded to bf16 once, in tile order.
void PackedWeight::forward_amx(const float* x, int64_t m, std::span<float* const> ys,
                               const PackedWeight* next_weight) const {
  const int64_t k_tiles = (k_ + amx::kTileK - 1) / amx::kTileK;
  const int64_t row_blocks = (m + amx::kTileRows - 1) / amx::kTileRows;
  const size_t elems = static_cast<size_t>(row_blocks * k_tiles * amx::kTileRows * amx::kTileK);
  thread_local std::vector<uint16_t> scratch;  // grows to the largest batch, then stays
  if (scratch.size() < elems) scratch.resize(elems);
  const amx::Activations a{scratch.data(), k_tiles, row_blocks, m};
  // Padding rows of a last row block: zeros, so the dropped rows compute on clean data (a single
  // row block runs at the batch's own height and never reads them).
  if (m % amx::kTileRows && row_blocks > 1) {
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      uint16_t* tile = scratch.data() + (a.tile(row_blocks - 1, kt) - a.data);
      std::fill(tile + (m % amx::kTileRows) * amx::kTileK, tile + amx::kTileRows * amx::kTileK, uint16_t{0});
    }
  }

  ThreadPool& pool = ThreadPool::instance();
  const int threads = threads_for(m);
  uint16_t* tiles = scratch.data();  // the caller's scratch, filled by all threads
  prepare_rows(m, k_, threads, [&](int64_t r0, int64_t r1) { amx::round_rows_to_tiles(x, k_, r0, r1, a, tiles); });
  // Threads take runs of panels from a shared counter rather than fixed halves: on shared cores a
  // thread that loses its core for a while no longer holds the whole step back. Which thread
  // computes a panel never changes its result. Runs are long enough to keep the weight streams
  // sequential (and the activations' L2 block reused) and short enough to even out.
  // Whole passes: a decode run of 7 panels streamed its last one alone (4-5 % of a 0.5B step).
  const int64_t pass = amx::panels_per_pass(a);
  const int64_t run_panels =
      threads == 1 ? num_panels_
                   : round_up(std::max<int64_t>(kMinPanelRun, num_panels_ / (threads * kRunsPerThread)), pass);
  // A gated weight's sums wait in parking for the SwiGLU pass (the AMX tiles store them as they are).
  float* const parking = gated() ? this->parking(m) : nullptr;
  // Decode: each thread starts with the run it warmed while the previous call's barrier held it
  // (as the AVX-512 and AVX2 paths do), and warms its first run of the next weight in turn.
  FirstRuns<kMaxFirstRuns> first_run_claims(uses_first_runs(m, threads) ? threads : 0, first_run_panels(threads),
                                            num_panels_);
  std::atomic<int64_t> next{first_run_claims.shared_start()};
  auto claim_shared = [&](int64_t& p0, int64_t& p1) {
    p0 = next.fetch_add(run_panels);
    p1 = std::min(num_panels_, p0 + run_panels);
    return p0 < num_panels_;
  };
  pool.run(threads, [&](int t) {
    pool.warm_when_idle(next_weight && m <= kMaxWarmRows ? next_weight->first_run_region(t, m) : WarmRegion{});
    thread_local std::vector<const uint8_t*> panels;
    thread_local std::vector<PanelOut> outs;
    first_run_claims.work(
        t,
        [&](int64_t p0, int64_t p1) {
          panels.clear();
          outs.clear();
          for (int64_t p = p0; p < p1; ++p) {
            panels.push_back(data_ + p * panel_bytes_);
            outs.push_back(panel_out(p, ys, parking));
          }
          amx::matmul_panels(a, k_tiles, panels.data(), outs.data(), p1 - p0);
        },
        claim_shared);
  });
  if (gated()) silu_mul_from_parking(parking, m, ys[0]);
}

}  // namespace pagellm::kernels
