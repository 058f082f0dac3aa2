// The AVX-512 VNNI int8 tile (kernels/cpu/int8_vnni_tile.h) compiled against SIMDe's portable
// emulation of its intrinsics, so its arithmetic is checked on every CPU, AVX-512 or not: outputs
// bit for bit equal to an independent scalar reference of the int8 chain (exact integer block sums,
// then acc = fma(float(sum), dw * dx, acc) block by block, then + bias), and to the AVX2 tiles
// where the CPU runs them. On an AVX-512 VNNI CPU the native build of the same tile also runs in
// test_int8_matmul (against the portable path).
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cmath>

// SIMDe 0.7.4 has no _mm512_cvtepi32_ps: lane by lane, as vcvtdq2ps rounds (to nearest).
static simde__m512 emulated_cvtepi32_ps(simde__m512i a) {
  int32_t lanes[16];
  simde_mm512_storeu_si512(lanes, a);
  float f[16];
  for (int i = 0; i < 16; ++i) f[i] = static_cast<float>(lanes[i]);
  return simde_mm512_loadu_ps(f);
}
#define _mm512_cvtepi32_ps emulated_cvtepi32_ps

// SIMDe 0.7.4's _mm512_fmadd_ps without FMA hardware rounds the product before the sum; vfmadd
// rounds once: lane by lane with std::fma.
static simde__m512 emulated_fmadd_ps(simde__m512 a, simde__m512 b, simde__m512 c) {
  float fa[16], fb[16], fc[16];
  simde_mm512_storeu_ps(fa, a);
  simde_mm512_storeu_ps(fb, b);
  simde_mm512_storeu_ps(fc, c);
  for (int i = 0; i < 16; ++i) fa[i] = std::fma(fa[i], fb[i], fc[i]);
  return simde_mm512_loadu_ps(fa);
}
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps emulated_fmadd_ps

#define PAGELLM_VNNI
#include "kernels/cpu/int8_vnni_tile.h"
// (intrinsics end here: the headers below declare none)

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/q8_activations.h"

namespace pagellm::kernels {
namespace {

using TileFn = void (*)(const avx2::Operands&, const uint8_t*, const PanelOut&, int64_t, bool);
constexpr std::array<TileFn, 8> kEmulatedTiles = {&vnni::int8_tile<1>, &vnni::int8_tile<2>, &vnni::int8_tile<3>,
                                                  &vnni::int8_tile<4>, &vnni::int8_tile<5>, &vnni::int8_tile<6>,
                                                  &vnni::int8_tile<7>, &vnni::int8_tile<8>};

// Weights of `panels` panels of 16 columns over k, with per-block column scales, and their bytes
// in the quad layout: per block of 32 k, 16 f32 scales, then 8 groups of 16 columns x 4 k.
struct QuadPanels {
  int64_t k = 0, panels = 0;
  std::vector<int8_t> w;       // [panel * 16 + column][k]
  std::vector<float> scale;    // [panel * 16 + column][k / 32]
  std::vector<uint8_t> bytes;  // [panel][k / 32][576]

  // lowest: -128 shows the tile's sum exact for every int8; int8 compute packs -127..127 only.
  QuadPanels(int64_t k_, int64_t panels_, std::mt19937& rng, int lowest) : k(k_), panels(panels_) {
    const int64_t cols = panels * 16, blocks = k / 32;
    std::uniform_int_distribution<int> value(lowest, 127);
    std::uniform_real_distribution<float> d(1e-4f, 2e-2f);
    w.resize(static_cast<size_t>(cols * k));
    scale.resize(static_cast<size_t>(cols * blocks));
    for (auto& v : w) v = static_cast<int8_t>(value(rng));
    for (auto& s : scale) s = d(rng);
    bytes.resize(static_cast<size_t>(panels * blocks * q8quad::kBlockBytes));
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t b = 0; b < blocks; ++b) {
        uint8_t* block = bytes.data() + (p * blocks + b) * q8quad::kBlockBytes;
        for (int c = 0; c < 16; ++c) {
          std::memcpy(block + c * 4, &scale[static_cast<size_t>((p * 16 + c) * blocks + b)], 4);
          for (int g = 0; g < 8; ++g)
            for (int j = 0; j < 4; ++j)
              block[64 + g * 64 + c * 4 + j] =
                  static_cast<uint8_t>(w[static_cast<size_t>((p * 16 + c) * k + b * 32 + g * 4 + j)]);
        }
      }
  }
  const uint8_t* panel(int64_t p) const { return bytes.data() + p * (k / 32) * q8quad::kBlockBytes; }
};

// One output of the int8 chain, from the source values.
float reference(const QuadPanels& q, int64_t col, const int8_t* xq, const float* xd, float bias) {
  const int64_t blocks = q.k / 32;
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    int32_t sum = 0;
    for (int64_t i = b * 32; i < b * 32 + 32; ++i) sum += int32_t{xq[i]} * q.w[static_cast<size_t>(col * q.k + i)];
    acc = std::fma(static_cast<float>(sum), q.scale[static_cast<size_t>(col * blocks + b)] * xd[b], acc);
  }
  return acc + bias;
}

struct Case {
  int64_t k, panels, m, valid_last, r0;
};

TEST(Int8VnniEmulated, TilesMatchTheScalarChainBitForBit) {
  std::mt19937 rng(7);
  // Row counts 1-19 cover every tile size (1-8) and the remainders; the last panel is ragged in
  // some; rows may start past 0 (a thread's share of a batch).
  const Case cases[] = {{32, 1, 1, 16, 0},   {64, 2, 3, 16, 0},  {96, 3, 8, 5, 0},    {160, 2, 9, 16, 2},
                        {256, 4, 16, 11, 0}, {128, 1, 17, 1, 3}, {320, 2, 19, 16, 0}, {64, 3, 5, 15, 1}};
  for (const Case& c : cases) {
    QuadPanels q(c.k, c.panels, rng, -128);
    const int64_t rows = c.r0 + c.m;
    std::normal_distribution<float> normal(0.0f, 1.5f);
    std::vector<float> x(static_cast<size_t>(rows * c.k));
    for (auto& v : x) v = normal(rng);
    std::vector<int8_t> xq(x.size());
    std::vector<float> xd(x.size() / 32);
    for (int64_t r = 0; r < rows; ++r)
      quantize_row_q8_portable(x.data() + r * c.k, c.k, xq.data() + r * c.k, xd.data() + r * (c.k / 32));
    std::vector<float> bias(static_cast<size_t>(c.panels * 16));
    for (auto& b : bias) b = normal(rng);
    const int64_t n = (c.panels - 1) * 16 + c.valid_last, ldc = n + 3;
    const float sentinel = -12345.0f;
    std::vector<float> y(static_cast<size_t>(rows * ldc), sentinel);
    std::vector<const uint8_t*> panels;
    std::vector<PanelOut> outs;
    for (int64_t p = 0; p < c.panels; ++p) {
      panels.push_back(q.panel(p));
      PanelOut o;
      o.c = y.data() + p * 16;
      o.ldc = ldc;
      o.valid = p == c.panels - 1 ? c.valid_last : 16;
      o.bias = bias.data() + p * 16;
      outs.push_back(o);
    }
    avx2::Operands op;
    op.format = avx2::Format::kQ8Int8;
    op.k = c.k;
    op.xq = xq.data();
    op.xd = xd.data();
    vnni::multiply_int8_tiles(kEmulatedTiles, op, panels.data(), outs.data(), c.panels, c.r0, rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col = 0; col < ldc; ++col) {
        const float got = y[static_cast<size_t>(r * ldc + col)];
        const std::string at = "k " + std::to_string(c.k) + " m " + std::to_string(c.m) + " row " + std::to_string(r) +
                               " col " + std::to_string(col);
        if (r < c.r0 || col >= n) {
          EXPECT_EQ(got, sentinel) << at << ": written outside the rows and columns asked for";
          continue;
        }
        const float want =
            reference(q, col, xq.data() + r * c.k, xd.data() + r * (c.k / 32), bias[static_cast<size_t>(col)]);
        EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << at << ": " << got << " vs " << want;
      }
  }
}

// The AVX2 int8 tiles on the same panels (weights within [-127, 127], as int8 compute packs them)
// give the same bits as the emulated VNNI tiles.
TEST(Int8VnniEmulated, SameBitsAsTheAvx2Tiles) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2 on this CPU: the scalar reference test above still ran";
  std::mt19937 rng(11);
  const int64_t k = 192, panels_n = 3, m = 13;
  QuadPanels q(k, panels_n, rng, -127);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = normal(rng);
  std::vector<int8_t> xq(x.size());
  std::vector<float> xd(x.size() / 32);
  for (int64_t r = 0; r < m; ++r) quantize_row_q8(x.data() + r * k, k, xq.data() + r * k, xd.data() + r * (k / 32));
  std::vector<float> bias(static_cast<size_t>(panels_n * 16));
  for (auto& b : bias) b = normal(rng);
  auto run = [&](bool emulated_vnni) {
    std::vector<float> y(static_cast<size_t>(m * panels_n * 16));
    std::vector<const uint8_t*> panels;
    std::vector<PanelOut> outs;
    for (int64_t p = 0; p < panels_n; ++p) {
      panels.push_back(q.panel(p));
      outs.push_back(PanelOut{y.data() + p * 16, panels_n * 16, 16, bias.data() + p * 16});
    }
    avx2::Operands op;
    op.format = avx2::Format::kQ8Int8;
    op.k = k;
    op.xq = xq.data();
    op.xd = xd.data();
    if (emulated_vnni)
      vnni::multiply_int8_tiles(kEmulatedTiles, op, panels.data(), outs.data(), panels_n, 0, m);
    else
      avx2::multiply_panels(op, panels.data(), outs.data(), panels_n, 0, m);
    return y;
  };
  const auto vnni_y = run(true), avx2_y = run(false);
  for (size_t i = 0; i < vnni_y.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(vnni_y[i]), std::bit_cast<uint32_t>(avx2_y[i])) << "output " << i;
}

}  // namespace
}  // namespace pagellm::kernels
