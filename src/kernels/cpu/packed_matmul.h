#pragma once
// Linear layers with weights repacked once at load for AVX-512 (y = x W^T + b); CPUs without it
// run the same panels through avx2_matmul.h or a portable scalar path.
//
// Layout: output features are cut into panels of 16 (one zmm of float32 results). Within a
// panel, K is walked in pairs (k, k+1), K padded to even with zeros:
//   BF16 storage  [K/2][16][2] bf16   (64 B/pair; exactly the operand vdpbf16ps takes)
//   F16 storage   [K/2][2][16] f16    (64 B/pair; two vcvtph2ps)
//   F32 storage   [K/2][2][16] f32    (128 B/pair)
//   Q8_0 storage  [K/32][16 f32 scales, 32 x 16 int8]   (576 B per 32 k)
//   Q8_0 computed in int8 (MatmulPrecision::kInt8)
//                 [K/32][16 f32 scales, 8 x 16 x 4 int8]  (each column's 4 consecutive k together,
//                 as vpmaddubsw and vpdpbusd take them; 576 B per 32 k)
// BF16 weights computed with vdpbf16ps (no AMX) may be stored coded, 13 bits a value without loss
// (coded_bf16.h): decode-sized calls decode them in registers, bigger batches into a
// cache-resident scratch of raw lines first. A panel whose values span too many binades is kept
// raw after the coded ones. The products are those of the raw panels, bit for bit.
// Several weights sharing K (q|k|v, gate|up) can be packed into one PackedWeight so one call
// and one pass over the activations computes them all; each part starts on a panel boundary.
// A gate and an up projection can instead be packed with Epilogue::kSiluMul: their panels
// alternate (gate panel i, then up panel i), the kernels' tiles take them in pairs, and the last
// K block stores silu(gate) * up straight from the accumulators: one output of N floats a row
// instead of 2N written and read again by a separate SwiGLU pass.
//
// Batch invariance: every output element is accumulated by one fused multiply-add chain over
// k = 0, 1, ..., K-1 in order (one zmm lane; the bf16 mode adds one vdpbf16ps pair per step),
// starting from 0, with the bias added last. The M/N tiling, the K blocking (partial sums are
// stored to y and reloaded, which is exact), the thread split (over N only) and the batch size
// only decide which lanes run together, never the order of one element's sum. So a row's
// result is bit-identical for any M and any batch neighbours.
// Q8_0 weights computed in int8 keep that with blocks of 32 in place of single k: per block b in
// order, acc = fma(float(sum of the 32 int8 products), d_w * d_x, acc), the integer sum exact; a
// row's activations are quantized on their own (q8_activations.h).
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/panel_out.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/aligned_buffer.h"
#include "tensor/tensor_view.h"
#include "tensor/weight_arena.h"

namespace pagellm::kernels {

enum class MatmulPrecision {
  kExact,  // weights kept at their precision, activations float32, float32 FMA accumulation
  kBF16,   // F32/F16/BF16 weights stored as bf16, activations rounded to bf16: AMX tiles where the
           // CPU has them (amx_matmul.h), else vdpbf16ps
  kInt8,   // Q8_0 weights times activations quantized to int8 in blocks of 32 (llama.cpp's Q8_0 dot
           // product: integer sums, one float multiply-add a block): AVX2 or AVX-512 VNNI tiles, and
           // AMX int8 tiles for batches where the CPU has them (all with the same bits); other
           // weights as kExact, and Q8_0 weights holding -128 too (the kernels' sign trick needs
           // |q| <= 127)
};

// What the outputs go through before they are stored.
enum class Epilogue {
  kNone,
  kSiluMul,  // two parts of one size, gate and up: one output, silu(gate) * up (SwiGLU)
};

// Activations already rounded to bf16 for a weight that computes in bf16, in the layout its
// kernels read: row r's elements 2i and 2i + 1 in pairs[r * ld + i] (the even one in the low half),
// an odd row ending in a 0. round_to_bf16_pairs writes one row so; a producer that writes these
// rows itself (a fused norm, a gated projection) saves the projection its rounding pass.
struct Bf16Rows {
  const uint32_t* pairs = nullptr;
  int64_t ld = 0;  // pairs a row, at least (in_features + 1) / 2
};

// x[0..k) rounded to bf16 (round to nearest even) as one row of Bf16Rows; the bits the bf16
// projections' own rounding gives.
void round_to_bf16_pairs(const float* x, int64_t k, uint32_t* out);

struct LinearPart {
  const TensorView* weight = nullptr;  // [out, in]
  const float* bias = nullptr;         // nullptr or `out` floats
};

class PackedWeight {
 public:
  static constexpr int64_t kPanel = 16;

  PackedWeight() = default;
  // Before the packed bytes go, the pool's threads forget any run of them handed over to warm.
  ~PackedWeight();
  PackedWeight(PackedWeight&&) = default;
  PackedWeight& operator=(PackedWeight&&) = default;
  // All parts must share the dtype and the input size. arena: where the packed bytes go (it must
  // outlive this weight); without one the weight owns its buffer. code: store BF16 weights coded
  // (kBF16 precision, where the CPU has AVX-512 VBMI and no AMX; see coded() and coded_bf16.h).
  explicit PackedWeight(std::span<const LinearPart> parts, MatmulPrecision precision = MatmulPrecision::kExact,
                        WeightArena* arena = nullptr, bool code = false, Epilogue epilogue = Epilogue::kNone);
  explicit PackedWeight(const TensorView& w, const float* bias = nullptr,
                        MatmulPrecision precision = MatmulPrecision::kExact, WeightArena* arena = nullptr,
                        bool code = false);

  int64_t in_features() const { return k_; }
  Epilogue epilogue() const { return epilogue_; }
  // Output buffers forward() takes: one per part, or one for a SiLU-gated pair.
  size_t num_outputs() const { return gated() ? 1 : parts_.size(); }
  int64_t out_features(size_t output) const { return parts_[output].n; }
  DType storage() const { return storage_; }
  bool bf16_compute() const { return bf16_compute_; }
  // Q8_0 weights times int8-quantized activations (MatmulPrecision::kInt8 took effect).
  bool int8_compute() const { return int8_compute_; }
  // The packed weights: what one decode call streams from memory.
  std::span<const uint8_t> packed_bytes() const { return {data_, data_bytes_}; }
  bool coded() const { return coded_; }
  // Panels of a coded weight kept raw (values spanning more binades than a code covers).
  int64_t raw_panels() const;
  // Whether forward() runs on AMX tiles (bf16 compute on raw panels, AMX available now).
  bool uses_amx() const;
  // Whether a forward() of m rows computes on AMX int8 tiles (int8 compute, AMX-INT8 available now,
  // enough rows for them to pay).
  bool uses_amx_int8(int64_t m) const;

  // x: [m, in_features] float32 row-major; ys[p]: [m, out_features(p)] row-major for each of the
  // num_outputs(), not aliasing x (partial sums are parked in y between K blocks). Callable from
  // several threads at once.
  // next: the weight the caller multiplies by next, if known (a decode step is a fixed chain of
  // projections). A decode-sized call then has each thread, once it is done, warm the run of
  // `next` that it will start with, through the barrier and the serial work in between
  // (kernels/cpu/thread_pool.h, warm_when_idle).
  void forward(const float* x, int64_t m, std::span<float* const> ys, const PackedWeight* next = nullptr) const;
  void forward(const float* x, int64_t m, float* y, const PackedWeight* next = nullptr) const {
    forward(x, m, std::span<float* const>(&y, 1), next);
  }
  // Whether forward() takes activations already rounded to bf16 (bf16 compute, not on AMX tiles,
  // whose path rounds into its own tile order).
  bool takes_bf16_rows() const;
  // The same products from rows already rounded (takes_bf16_rows()): bit for bit what forward()
  // gives for the float rows they were rounded from.
  void forward(Bf16Rows x, int64_t m, std::span<float* const> ys, const PackedWeight* next = nullptr) const;
  // A SiLU-gated weight (takes_bf16_rows()): silu(gate) * up stored rounded to bf16, the rows the
  // next projection reads (y: m rows of ld_y pairs), bit for bit round_to_bf16_pairs of the float
  // output.
  void forward(Bf16Rows x, int64_t m, uint32_t* y, int64_t ld_y, const PackedWeight* next = nullptr) const;

 private:
  bool gated() const { return epilogue_ == Epilogue::kSiluMul; }
  // Where panel `panel`'s sums go. A gated weight parks its partial sums (and, on the paths
  // without the fused epilogue, its full sums) in `parking` ([m][2N], gate then up) and stores
  // silu(gate) * up in ys[0], or as bf16 rows in y_bf16 when given, when `fused`.
  PanelOut panel_out(int64_t panel, std::span<float* const> ys, float* parking = nullptr, bool fused = false,
                     uint32_t* y_bf16 = nullptr, int64_t ld_y_bf16 = 0) const;
  // forward() from float rows x or pre-rounded rows xb, into float outputs ys or (a gated weight)
  // bf16 rows y_bf16.
  void run(const float* x, Bf16Rows xb, int64_t m, std::span<float* const> ys, uint32_t* y_bf16, int64_t ld_y_bf16,
           const PackedWeight* next) const;
  // The calling thread's parking for m rows of a gated weight.
  float* parking(int64_t m) const;
  // The paths without the fused epilogue (AMX, portable): y = silu(gate) * up from parking, or
  // those rows rounded into y_bf16 (ld_y_bf16 pairs a row) when given.
  void silu_mul_from_parking(const float* parking, int64_t m, float* y, uint32_t* y_bf16 = nullptr,
                             int64_t ld_y_bf16 = 0) const;
  // Fails unless this weight takes bf16 rows and x's rows hold in_features values.
  void check_bf16_rows(Bf16Rows x) const;
  // Where panel p's bytes start, and whether they are coded (else raw, in storage_'s layout).
  const uint8_t* panel_data(int64_t p) const;
  bool panel_coded(int64_t p) const { return coded_ && raw_offset_[static_cast<size_t>(p)] < 0; }
  // The panel that row `row` of part `part` is packed into.
  int64_t panel_of(size_t part, int64_t row) const;
  void pack(std::span<const LinearPart> parts, DType src, uint8_t* out) const;
  void code_panels(const uint8_t* raw, WeightArena* arena);
  void allocate(size_t bytes, WeightArena* arena);
  int threads_for(int64_t m) const;
  // Decode-sized calls: thread t (< kMaxFirstRuns) starts with its own run of panels, the one it
  // warmed at the end of the previous call; the rest are claimed from a shared counter.
  static constexpr int kMaxFirstRuns = 16;
  static constexpr int64_t kMaxWarmRows = 4;
  bool uses_first_runs(int64_t m, int threads) const;
  // Panels a decode kernel streams side by side (AMX: one pass; else the 4-panel tiles): first
  // runs and their warm regions come in whole groups.
  int64_t decode_panel_group() const;
  int64_t first_run_panels(int threads) const;
  // What thread t reads first in a call of m rows (empty when that call has no fixed first runs).
  WarmRegion first_run_region(int t, int64_t m) const;
  void forward_amx(const float* x, int64_t m, std::span<float* const> ys, const PackedWeight* next_weight) const;

  struct Part {
    int64_t n = 0;
    int64_t first_panel = 0;
  };
  Epilogue epilogue_ = Epilogue::kNone;
  std::vector<Part> parts_;
  std::vector<int32_t> panel_part_;  // part of each panel (not read for a gated weight: panel_of)
  std::vector<float> bias_;          // num_panels * 16, zeros where absent
  DType storage_ = DType::kF32;
  bool bf16_compute_ = false;
  bool int8_compute_ = false;
  int64_t k_ = 0;
  int64_t num_panels_ = 0;
  int64_t panel_bytes_ = 0;      // stride of the panels in data_ (coded size when coded_)
  int64_t raw_panel_bytes_ = 0;  // one panel in storage_'s layout
  bool coded_ = false;
  std::vector<int64_t> raw_offset_;  // coded_: per panel, -1 or where in data_ its raw copy is
  AlignedBuffer owned_;              // data_'s buffer when there is no arena
  uint8_t* data_ = nullptr;
  size_t data_bytes_ = 0;
};

// True when the CPU runs the AVX-512 (F, BW, VL, BF16, F16C) kernels; otherwise the AVX2 kernels
// (cpu_has_avx2()) or a portable scalar path compute the same per-element FMA chain.
bool cpu_has_avx512_bf16();
// Tests only: make cpu_has_avx512_bf16() report false so the portable paths run (not thread-safe
// against concurrent kernel calls; set it before, reset it after).
void force_portable_kernels(bool force);
// True when the CPU has what the AVX2 kernels of avx2_matmul.h need (AVX2, FMA, F16C) and the
// portable path is not forced. They serve wherever cpu_has_avx512_bf16() is false, with the
// portable path's results bit for bit.
bool cpu_has_avx2();
// Tests only, like force_portable_kernels: make cpu_has_avx512_bf16() and cpu_has_avx512_vnni()
// report false so the AVX2 paths run on a CPU that has AVX-512 too.
void force_avx2_kernels(bool force);
// True when int8 compute (MatmulPrecision::kInt8) runs the AVX-512 VNNI tiles of int8_vnni.h
// instead of the AVX2 ones (same bits), neither path being forced.
bool cpu_has_avx512_vnni();
// True when BF16 weights packed with `code` are stored coded: AVX-512 BF16 and VBMI, and no AMX
// (whose tiles read raw panels).
bool cpu_codes_weights();

}  // namespace pagellm::kernels
