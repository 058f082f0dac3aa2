// Coded bf16 panels (kernels/cpu/coded_bf16.h): the codec is lossless for every value it accepts
// and rejects the panels it cannot hold; a PackedWeight stored coded gives the raw weight's
// outputs bit for bit, for decode-sized calls (decoded in registers) and batches (decoded into
// scratch), with raw fallback panels among coded ones, and on the portable path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/coded_bf16.h"
#include "kernels/cpu/packed_matmul.h"
#include "tensor/convert.h"

namespace pagellm::kernels {
namespace {

constexpr int64_t kValues = 32;  // per k-pair of a panel

uint16_t bits_with_exponent(std::mt19937& rng, int exponent) {
  return static_cast<uint16_t>((rng() & 0x8000u) | static_cast<unsigned>(exponent) << 7 | (rng() & 0x7fu));
}

TEST(CodedBf16, EveryValueInTheWindowDecodesToItsBits) {
  std::mt19937 rng(3);
  // Exponents base .. base + 30 around the panel's largest, zeros, -0, subnormals, inf and NaN.
  for (int top : {31, 40, 121, 127, 200, 255}) {
    const int64_t kpairs = 48;
    std::vector<uint16_t> raw(static_cast<size_t>(kpairs * kValues));
    for (auto& v : raw) {
      const unsigned r = rng() % 40;
      v = r == 0   ? uint16_t{0}
          : r == 1 ? uint16_t{0x8000}
          : r == 2 ? static_cast<uint16_t>((rng() & 0x8000u) | (rng() % 127 + 1))  // subnormal
                   : bits_with_exponent(rng, top - static_cast<int>(rng() % 31));
    }
    raw[5] = bits_with_exponent(rng, top);  // the largest exponent is present
    const int base = coded_bf16::base_for(raw.data(), kpairs);
    ASSERT_EQ(base, std::max(1, top - 30)) << top;
    std::vector<uint8_t> coded(static_cast<size_t>(coded_bf16::panel_bytes(kpairs)));
    coded_bf16::encode(raw.data(), kpairs, base, coded.data());
    for (int64_t kp = 0; kp < kpairs; ++kp)
      for (int i = 0; i < kValues; ++i)
        ASSERT_EQ(coded_bf16::value(coded.data(), kp, i), raw[static_cast<size_t>(kp * kValues + i)])
            << "top " << top << " k-pair " << kp << " value " << i;
  }
}

TEST(CodedBf16, PanelsSpanningMoreThanTheWindowAreRejected) {
  std::vector<uint16_t> raw(16 * kValues, 0x3c00);  // exponent 120
  EXPECT_EQ(coded_bf16::base_for(raw.data(), 16), 90);
  raw[100] = static_cast<uint16_t>(90 << 7);  // 30 binades below: fits
  EXPECT_EQ(coded_bf16::base_for(raw.data(), 16), 90);
  raw[101] = static_cast<uint16_t>(0x8000 | 89 << 7 | 3);  // 31 below: does not
  EXPECT_EQ(coded_bf16::base_for(raw.data(), 16), -1);
  std::vector<uint16_t> zeros(16 * kValues, 0);
  EXPECT_EQ(coded_bf16::base_for(zeros.data(), 16), 1);
}

struct Bf16Weight {
  std::vector<uint16_t> bits;
  TensorView view;
};

// Normal weights of std `scale`; rows in `wide_rows` also get values 2^-40 of the rest.
Bf16Weight make_weight(int64_t n, int64_t k, float scale, std::mt19937& rng, std::vector<int64_t> wide_rows = {}) {
  std::normal_distribution<float> nd(0.0f, scale);
  Bf16Weight w;
  w.bits.resize(static_cast<size_t>(n * k));
  for (auto& v : w.bits) v = f32_to_bf16(nd(rng));
  for (int64_t r : wide_rows) w.bits[static_cast<size_t>(r * k + k / 2)] = f32_to_bf16(scale * std::ldexp(1.0f, -40));
  w.view = TensorView{DType::kBF16, {n, k}, reinterpret_cast<const uint8_t*>(w.bits.data())};
  return w;
}

std::vector<float> forward(const PackedWeight& w, const std::vector<float>& x, int64_t m, int64_t n) {
  std::vector<float> y(static_cast<size_t>(m * n), NAN);
  w.forward(x.data(), m, y.data());
  return y;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

TEST(CodedBf16, CodedWeightsGiveTheRawWeightsOutputsBitForBit) {
  if (!cpu_codes_weights())
    GTEST_SKIP() << "this CPU does not decode coded weights (needs AVX-512 BF16 and VBMI, no AMX)";
  std::mt19937 rng(5);
  struct Case {
    int64_t n, k;
    float scale;
    std::vector<int64_t> wide_rows;
  };
  // Ragged N and K (odd, not a multiple of 32), K long enough for several scratch blocks, and
  // raw fallback panels alone, first, last and inside 4-panel groups.
  const std::vector<Case> cases = {{7, 13, 1.0f, {}},           {33, 64, 0.02f, {}},
                                   {100, 301, 0.02f, {17}},     {130, 96, 3.0f, {0, 129}},
                                   {64, 5122, 0.02f, {20, 40}}, {300, 896, 0.05f, {33, 34, 35}}};
  for (const Case& c : cases) {
    Bf16Weight w = make_weight(c.n, c.k, c.scale, rng, c.wide_rows);
    std::normal_distribution<float> bd;
    std::vector<float> bias(static_cast<size_t>(c.n));
    for (float& b : bias) b = bd(rng);
    const PackedWeight raw(w.view, bias.data(), MatmulPrecision::kBF16);
    const PackedWeight coded(w.view, bias.data(), MatmulPrecision::kBF16, nullptr, /*code=*/true);
    ASSERT_FALSE(raw.coded());
    ASSERT_TRUE(coded.coded());
    const int64_t wide_panels = [&] {
      std::vector<int64_t> panels;
      for (int64_t r : c.wide_rows)
        if (panels.empty() || panels.back() != r / 16) panels.push_back(r / 16);
      return static_cast<int64_t>(panels.size());
    }();
    EXPECT_EQ(coded.raw_panels(), wide_panels) << c.n << "x" << c.k;
    // 13 bits a value plus a 128-byte header per panel; fallback panels add a raw copy.
    const int64_t panels = (c.n + 15) / 16, kpairs = (c.k + 31) / 32 * 16;
    EXPECT_EQ(static_cast<int64_t>(coded.packed_bytes().size()),
              panels * coded_bf16::panel_bytes(kpairs) + wide_panels * kpairs * 64);
    EXPECT_EQ(static_cast<int64_t>(raw.packed_bytes().size()), panels * kpairs * 64);
    for (int64_t m : {1, 2, 3, 4, 5, 8, 17, 64, 65, 150}) {
      std::vector<float> x(static_cast<size_t>(m * c.k));
      for (float& v : x) v = bd(rng);
      expect_same_bits(forward(coded, x, m, c.n), forward(raw, x, m, c.n),
                       "n " + std::to_string(c.n) + " k " + std::to_string(c.k) + " m " + std::to_string(m));
    }
  }
}

// A SiLU-gated gate/up pair coded: the same bits as raw, on decode rows and batches decoded
// through scratch (K = 5122: two scratch blocks, partial sums parked). A pair with a value too
// small for the window in either part stays raw as a pair (its tile runs one kernel).
TEST(CodedBf16, GatedCodedWeightsGiveTheRawOutputsBitForBit) {
  if (!cpu_codes_weights())
    GTEST_SKIP() << "this CPU does not decode coded weights (needs AVX-512 BF16 and VBMI, no AMX)";
  std::mt19937 rng(6);
  std::normal_distribution<float> nd;
  for (int64_t k : {96, 301, 5122}) {
    const int64_t n = 70;  // 5 pairs of panels, the last ragged
    Bf16Weight g = make_weight(n, k, 0.02f, rng, {3}), u = make_weight(n, k, 0.02f, rng, {40, 69});
    const LinearPart parts[] = {{&g.view, nullptr}, {&u.view, nullptr}};
    const PackedWeight raw(parts, MatmulPrecision::kBF16, nullptr, false, Epilogue::kSiluMul);
    const PackedWeight coded(parts, MatmulPrecision::kBF16, nullptr, true, Epilogue::kSiluMul);
    ASSERT_TRUE(coded.coded());
    EXPECT_EQ(coded.raw_panels(), 6) << "pairs 0, 2 and 4 raw, both halves";
    for (int64_t m : {1, 2, 3, 4, 5, 8, 17, 64, 65, 150}) {
      std::vector<float> x(static_cast<size_t>(m * k));
      for (float& v : x) v = nd(rng);
      expect_same_bits(forward(coded, x, m, n), forward(raw, x, m, n),
                       "gated k " + std::to_string(k) + " m " + std::to_string(m));
      // From bf16 rows into bf16 rows (the model's path for gate/up): the raw weight's bits too.
      const int64_t ldx = (k + 1) / 2, ldy = n / 2;
      std::vector<uint32_t> xb(static_cast<size_t>(m * ldx)), y_coded(static_cast<size_t>(m * ldy)), y_raw(y_coded);
      for (int64_t r = 0; r < m; ++r) round_to_bf16_pairs(x.data() + r * k, k, xb.data() + r * ldx);
      coded.forward(Bf16Rows{xb.data(), ldx}, m, y_coded.data(), ldy);
      raw.forward(Bf16Rows{xb.data(), ldx}, m, y_raw.data(), ldy);
      EXPECT_EQ(y_coded, y_raw) << "gated bf16 rows, k " << k << " m " << m;
    }
  }
}

TEST(CodedBf16, PortablePathReadsCodedPanels) {
  if (!cpu_codes_weights()) GTEST_SKIP() << "this CPU does not code weights (needs AVX-512 BF16 and VBMI, no AMX)";
  std::mt19937 rng(9);
  Bf16Weight w = make_weight(40, 77, 0.02f, rng, {3});
  const PackedWeight raw(w.view, nullptr, MatmulPrecision::kBF16);
  const PackedWeight coded(w.view, nullptr, MatmulPrecision::kBF16, nullptr, true);
  ASSERT_TRUE(coded.coded());
  std::vector<float> x(6 * 77);
  std::normal_distribution<float> nd;
  for (float& v : x) v = nd(rng);
  force_portable_kernels(true);
  const std::vector<float> a = forward(coded, x, 6, 40), b = forward(raw, x, 6, 40);
  force_portable_kernels(false);
  expect_same_bits(a, b, "portable");
}

}  // namespace
}  // namespace pagellm::kernels
