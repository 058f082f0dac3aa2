// PackedWeight (the AVX-512 linear layer) against the reference matmul on ragged shapes, for
// every storage dtype and both precisions, and its batch invariance (bit-exact rows).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/amx_matmul.h"
#include "kernels/cpu/fused.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed_matmul.h"
#include "packed_weight_fixtures.h"
#include "tensor/convert.h"

namespace pagellm::kernels {
namespace {

using namespace fixtures;

// sum_k |x w|: the scale of the rounding error of one output.
double abs_dot(const TensorView& w, const float* x, int64_t row) {
  std::vector<float> wr(static_cast<size_t>(w.cols()));
  dequantize_row(w.dtype, w.row(row), wr.data(), w.cols());
  double s = 0;
  for (int64_t e = 0; e < w.cols(); ++e) s += std::fabs(double(x[e]) * wr[e]);
  return s;
}

void check_against_reference(DType dt, MatmulPrecision prec, Shape s, std::mt19937& rng) {
  Weight w = make_weight(dt, s.n, s.k, rng);
  std::vector<float> x = random_vec(size_t(s.m * s.k), rng), bias = random_vec(size_t(s.n), rng);
  std::vector<float> want(size_t(s.m * s.n)), got(want.size(), NAN);
  matmul(w.view, x.data(), s.m, want.data(), bias.data());
  PackedWeight packed(w.view, bias.data(), prec);
  packed.forward(x.data(), s.m, got.data());
  // Exact: float32 sums in another order. BF16: activations (and F32/F16 weights) rounded to bf16.
  const double rel = prec == MatmulPrecision::kExact ? 1e-5 : (dt == DType::kBF16 ? 1.0 / 256 : 2.0 / 256);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      const double tol = rel * abs_dot(w.view, x.data() + i * s.k, j) + 1e-5;
      ASSERT_NEAR(got[i * s.n + j], want[i * s.n + j], tol)
          << dtype_name(dt) << " m=" << s.m << " n=" << s.n << " k=" << s.k << " at " << i << "," << j;
    }
}

// Runs the body once on the CPU's best path (AMX tiles for kBF16 where present) and once with AMX
// turned off (the AVX-512 vdpbf16ps kernels), so both stay tested on an AMX machine.
class BothBf16Paths : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { amx::force_disabled(GetParam()); }
  void TearDown() override { amx::force_disabled(false); }
};
INSTANTIATE_TEST_SUITE_P(Amx, BothBf16Paths, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("AmxOff") : std::string("Best"); });

TEST_P(BothBf16Paths, MatchesReferenceOnRaggedShapes) {
  std::mt19937 rng(7);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16})
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
      for (Shape s : {Shape{1, 7, 13},
                      {5, 33, 64},
                      {17, 3, 129},
                      {37, 100, 96},
                      {9, 47, 255},
                      {1, 300, 301},
                      {3, 65, 600},
                      {70, 18, 514},
                      {300, 40, 4200}})  // big enough that the AMX path blocks K and rows
        check_against_reference(dt, prec, s, rng);
}

TEST(PackedMatmul, Q8_0MatchesReference) {
  std::mt19937 rng(8);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16})  // Q8_0 always computes in float32
    for (Shape s : {Shape{1, 7, 32}, {4, 33, 64}, {11, 100, 96}, {37, 17, 640}, {1, 260, 320}})
      check_against_reference(DType::kQ8_0, prec, s, rng);
}

TEST_P(BothBf16Paths, FusedPartsEqualSeparateWeights) {
  std::mt19937 rng(9);
  const int64_t k = 200, m = 13;
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16}) {
    Weight a = make_weight(DType::kBF16, 40, k, rng), b = make_weight(DType::kBF16, 7, k, rng),
           c = make_weight(DType::kBF16, 33, k, rng);
    std::vector<float> x = random_vec(size_t(m * k), rng), ba = random_vec(40, rng), bc = random_vec(33, rng);
    const LinearPart parts[] = {{&a.view, ba.data()}, {&b.view, nullptr}, {&c.view, bc.data()}};
    PackedWeight fused(parts, prec);
    std::vector<float> ya(size_t(m * 40)), yb(size_t(m * 7)), yc(size_t(m * 33));
    float* ys[] = {ya.data(), yb.data(), yc.data()};
    fused.forward(x.data(), m, ys);
    for (auto [w, bias, y, n] : {std::tuple{&a, ba.data(), &ya, 40}, {&b, nullptr, &yb, 7}, {&c, bc.data(), &yc, 33}}) {
      PackedWeight alone(w->view, bias, prec);
      std::vector<float> y1(static_cast<size_t>(m * n));
      alone.forward(x.data(), m, y1.data());
      EXPECT_EQ(*y, y1);
    }
  }
}

// silu(gate) * up for a gate and an up weight of one size: the gated weight (panels paired, the
// SwiGLU applied to the accumulators) against the same two weights packed as two outputs and the
// standalone silu_mul_fast pass, bit for bit, on every kernel shape: decode rows (1-4), batches
// streamed whole (5-64), row blocks (65+), K blocked with partial sums parked (K = 4200 and 3000
// at more than 64 rows), ragged N and K. As the two-output path is batch-invariant, so is this.
std::vector<float> gate_up_then_silu(const LinearPart (&parts)[2], MatmulPrecision prec, const std::vector<float>& x,
                                     int64_t m, int64_t n) {
  PackedWeight two(parts, prec);
  std::vector<float> gate(static_cast<size_t>(m * n)), up(gate.size());
  float* ys[] = {gate.data(), up.data()};
  two.forward(x.data(), m, ys);
  silu_mul_fast(gate.data(), up.data(), m * n, gate.data());
  return gate;
}

void expect_gated_equals_two_outputs(DType dt, MatmulPrecision prec, Shape s, std::mt19937& rng) {
  Weight g = make_weight(dt, s.n, s.k, rng), u = make_weight(dt, s.n, s.k, rng);
  std::vector<float> bg = random_vec(size_t(s.n), rng), bu = random_vec(size_t(s.n), rng);
  const LinearPart parts[] = {{&g.view, bg.data()}, {&u.view, bu.data()}};
  const PackedWeight gated(parts, prec, nullptr, false, Epilogue::kSiluMul);
  ASSERT_EQ(gated.num_outputs(), 1u);
  const std::vector<float> x = random_vec(size_t(s.m * s.k), rng);
  std::vector<float> got(static_cast<size_t>(s.m * s.n), NAN);
  gated.forward(x.data(), s.m, got.data());
  const std::vector<float> want = gate_up_then_silu(parts, prec, x, s.m, s.n);
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_TRUE(std::memcmp(&got[i], &want[i], sizeof(float)) == 0)
        << dtype_name(dt) << " m=" << s.m << " n=" << s.n << " k=" << s.k << " at " << i << ": " << got[i] << " vs "
        << want[i];
}

// One of each kernel shape: decode rows (1-4), batches streamed whole (5-64), row blocks (65+), K
// blocked with partial sums parked (K = 4200 and 3000 at more than 64 rows); ragged N and K.
const Shape kEveryKernelShape[] = {{1, 7, 13},    {2, 33, 64},     {3, 100, 301},  {4, 130, 96},
                                   {5, 47, 255},  {16, 64, 896},   {17, 50, 200},  {64, 70, 300},
                                   {65, 37, 896}, {150, 40, 4200}, {300, 21, 3000}};

TEST_P(BothBf16Paths, SiluGatedWeightEqualsTwoOutputsThenSiluMul) {
  std::mt19937 rng(16);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16}) {
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
      for (Shape s : kEveryKernelShape) expect_gated_equals_two_outputs(dt, prec, s, rng);
    for (Shape s : {Shape{1, 40, 64}, {6, 33, 96}, {70, 20, 640}})
      expect_gated_equals_two_outputs(DType::kQ8_0, prec, s, rng);
  }
}

TEST(PackedMatmul, SiluGatedWeightNeedsTwoPartsOfOneSize) {
  std::mt19937 rng(17);
  Weight g = make_weight(DType::kBF16, 32, 64, rng), u = make_weight(DType::kBF16, 16, 64, rng);
  const LinearPart uneven[] = {{&g.view, nullptr}, {&u.view, nullptr}};
  EXPECT_ANY_THROW(PackedWeight(uneven, MatmulPrecision::kBF16, nullptr, false, Epilogue::kSiluMul));
  const LinearPart one[] = {{&g.view, nullptr}};
  EXPECT_ANY_THROW(PackedWeight(one, MatmulPrecision::kBF16, nullptr, false, Epilogue::kSiluMul));
}

// Activations handed over already rounded to bf16 (Bf16Rows, rows padded past their pairs) give the
// float rows' bits; a SiLU-gated weight's bf16 output is round_to_bf16_pairs of its float output,
// an odd row ending in 0 and nothing written past its pairs.
std::vector<uint32_t> rounded_rows(const std::vector<float>& x, int64_t m, int64_t k, int64_t ld) {
  std::vector<uint32_t> pairs(static_cast<size_t>(m * ld), 0xdeadbeefu);
  for (int64_t r = 0; r < m; ++r) round_to_bf16_pairs(x.data() + r * k, k, pairs.data() + r * ld);
  return pairs;
}

void expect_bf16_rows_give_float_bits(DType dt, Shape s, std::mt19937& rng) {
  const std::string at = std::string(dtype_name(dt)) + " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                         " k=" + std::to_string(s.k);
  Weight g = make_weight(dt, s.n, s.k, rng), u = make_weight(dt, s.n, s.k, rng);
  std::vector<float> bg = random_vec(size_t(s.n), rng), bu = random_vec(size_t(s.n), rng);
  const std::vector<float> x = random_vec(size_t(s.m * s.k), rng);
  const int64_t ld = (s.k + 1) / 2 + 3;
  const std::vector<uint32_t> xb = rounded_rows(x, s.m, s.k, ld);

  const PackedWeight plain(g.view, bg.data(), MatmulPrecision::kBF16);
  if (!plain.takes_bf16_rows()) return;  // AMX tiles round into their own layout
  std::vector<float> want(static_cast<size_t>(s.m * s.n)), got(want.size(), NAN);
  plain.forward(x.data(), s.m, want.data());
  float* ys[] = {got.data()};
  plain.forward(Bf16Rows{xb.data(), ld}, s.m, ys);
  ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << at;

  const LinearPart parts[] = {{&g.view, bg.data()}, {&u.view, bu.data()}};
  const PackedWeight gated(parts, MatmulPrecision::kBF16, nullptr, false, Epilogue::kSiluMul);
  gated.forward(x.data(), s.m, want.data());
  const int64_t ld_y = (s.n + 1) / 2 + 2;
  const std::vector<uint32_t> want_b = rounded_rows(want, s.m, s.n, ld_y);
  std::vector<uint32_t> got_b(want_b.size(), 0xdeadbeefu);
  gated.forward(Bf16Rows{xb.data(), ld}, s.m, got_b.data(), ld_y);
  for (int64_t r = 0; r < s.m; ++r)
    for (int64_t i = 0; i < ld_y; ++i)  // the pairs past a row's end hold the marker in both
      ASSERT_EQ(got_b[static_cast<size_t>(r * ld_y + i)], want_b[static_cast<size_t>(r * ld_y + i)])
          << at << " row " << r << " pair " << i;
}

TEST_P(BothBf16Paths, Bf16RowsGiveTheFloatRowsBits) {
  std::mt19937 rng(18);
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
    for (Shape s : kEveryKernelShape) expect_bf16_rows_give_float_bits(dt, s, rng);
}

TEST(PackedMatmul, Bf16RowsOnlyWhereTheWeightComputesInBf16) {
  std::mt19937 rng(19);
  Weight w = make_weight(DType::kBF16, 16, 64, rng);
  std::vector<uint32_t> xb(32), yb(8);
  std::vector<float> y(16);
  float* ys[] = {y.data()};
  const PackedWeight exact(w.view, nullptr, MatmulPrecision::kExact);
  EXPECT_FALSE(exact.takes_bf16_rows());
  EXPECT_ANY_THROW(exact.forward(Bf16Rows{xb.data(), 32}, 1, ys));
  const PackedWeight bf16(w.view, nullptr, MatmulPrecision::kBF16);
  if (bf16.takes_bf16_rows()) {
    EXPECT_ANY_THROW(bf16.forward(Bf16Rows{xb.data(), 31}, 1, ys)) << "rows too short";
  }
  EXPECT_ANY_THROW(bf16.forward(Bf16Rows{xb.data(), 32}, 1, yb.data(), 8)) << "not a gated weight";
}

// A row's output is bit-identical alone (M = 1) and inside batches of 37 and 512, whatever
// the other rows hold; 4 panels (tiles of 2) and 7 (tiles of 3, then 2 or 1, in bf16 batches).
TEST_P(BothBf16Paths, RowResultIsBitIdenticalForAnyBatch) {
  std::mt19937 rng(10);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16})
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0})
      for (const int64_t n : {53, 100}) {
        const int64_t k = dt == DType::kQ8_0 ? 608 : 777;
        Weight w = make_weight(dt, n, k, rng);
        std::vector<float> bias = random_vec(size_t(n), rng);
        PackedWeight packed(w.view, bias.data(), prec);
        std::vector<float> x512 = random_vec(size_t(512 * k), rng);
        std::vector<float> y512(static_cast<size_t>(512 * n)), y37(static_cast<size_t>(37 * n)),
            y1(static_cast<size_t>(n));
        packed.forward(x512.data(), 512, y512.data());
        std::vector<float> x37 = random_vec(size_t(37 * k), rng);
        const int64_t row_in_37 = 21, row_in_512 = 300;
        std::copy_n(x512.begin() + row_in_512 * k, k, x37.begin() + row_in_37 * k);
        packed.forward(x37.data(), 37, y37.data());
        packed.forward(x512.data() + row_in_512 * k, 1, y1.data());
        for (int64_t j = 0; j < n; ++j) {
          ASSERT_EQ(y1[j], y512[row_in_512 * n + j]) << dtype_name(dt) << " col " << j;
          ASSERT_EQ(y1[j], y37[row_in_37 * n + j]) << dtype_name(dt) << " col " << j;
        }
        for (int64_t r = 0; r < 33; ++r) {  // every small-batch kernel shape against the big batch
          std::vector<float> yr(size_t(r + 1) * size_t(n));
          packed.forward(x512.data(), r + 1, yr.data());
          for (int64_t i = 0; i < (r + 1) * n; ++i) ASSERT_EQ(yr[i], y512[i]) << "m=" << r + 1;
        }
      }
}

// A BF16 weight [n, k] and an m-row batch: each of `rows` gets the bits it gets alone.
void expect_rows_equal_alone(MatmulPrecision prec, int64_t m, int64_t n, int64_t k, std::initializer_list<int64_t> rows,
                             std::mt19937& rng) {
  Weight w = make_weight(DType::kBF16, n, k, rng);
  PackedWeight packed(w.view, nullptr, prec);
  std::vector<float> x = random_vec(size_t(m * k), rng);
  std::vector<float> all(static_cast<size_t>(m * n)), one(static_cast<size_t>(n));
  packed.forward(x.data(), m, all.data());
  for (int64_t row : rows) {
    packed.forward(x.data() + row * k, 1, one.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_EQ(one[j], all[row * n + j]) << "row " << row << " col " << j;
  }
}

// With K and the rows blocked (AMX: activations over the L2 budget), a row still gets the bits it
// gets alone.
TEST_P(BothBf16Paths, BlockedBatchRowsEqualSingleRows) {
  std::mt19937 rng(12);
  const int64_t n = 37, k = 4200, m = 300;
  expect_rows_equal_alone(MatmulPrecision::kBF16, m, n, k, {0, 17, 255, 256, 299}, rng);
}

// Enough panels and rows that a big batch runs in several row blocks and chunks of panels per thread (partial sums kept
// in L2 between K blocks) and a decode batch in many runs taken from the shared counter: both still match the
// reference, and each row of the big batch equals the row alone.
TEST_P(BothBf16Paths, PanelChunksAndDecodeRunsKeepRowsExact) {
  std::mt19937 rng(14);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16}) {
    check_against_reference(DType::kBF16, prec, Shape{1100, 600, 300}, rng);
    check_against_reference(DType::kBF16, prec, Shape{1, 600, 300}, rng);
    // 2 K blocks, 3 row blocks, 2 panel chunks per thread.
    expect_rows_equal_alone(prec, 1100, 600, 300, {0, 7, 150, 600, 1099}, rng);
  }
}

// Decode calls chained through `next`: each thread warms the first run it will take in the next
// weight and starts the next call with it (a late thread's run is taken by the other). Every
// output is still written, with the bits of the call without `next`: first runs of whole 4-panel
// groups (K = 300), first runs that are the start of 4 long streams (K = 4200), first runs cut
// short by the end of the weight (2 panels), and a 5-row batch, which has no first runs.
TEST_P(BothBf16Paths, DecodeCallsWarmingTheNextWeightKeepTheirResults) {
  std::mt19937 rng(15);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16}) {
    const Shape shapes[] = {{0, 600, 300}, {0, 300, 4200}, {0, 20, 8000}};
    std::vector<Weight> weights;
    std::vector<PackedWeight> packed;
    for (const Shape& s : shapes) weights.push_back(make_weight(DType::kBF16, s.n, s.k, rng));
    for (const Weight& w : weights) packed.emplace_back(w.view, nullptr, prec);
    for (int64_t m = 1; m <= 5; ++m) {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < packed.size(); ++i) {
          const Shape& s = shapes[i];
          const std::vector<float> x = random_vec(static_cast<size_t>(m * s.k), rng);
          std::vector<float> chained(static_cast<size_t>(m * s.n), NAN), alone(chained.size(), NAN);
          packed[i].forward(x.data(), m, chained.data(), &packed[(i + 1) % packed.size()]);
          packed[i].forward(x.data(), m, alone.data());
          for (size_t j = 0; j < chained.size(); ++j)
            ASSERT_TRUE(chained[j] == alone[j]) << "weight " << i << " m " << m << " output " << j;
        }
      }
    }
  }
}

// The portable (no AVX-512) path: same tolerances, same batch invariance.
TEST(PackedMatmul, PortablePathMatchesReferenceAndIsBatchInvariant) {
  force_portable_kernels(true);
  std::mt19937 rng(11);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16}) {
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
      for (Shape s : {Shape{1, 7, 13}, {9, 47, 255}, {3, 65, 600}}) check_against_reference(dt, prec, s, rng);
    check_against_reference(DType::kQ8_0, prec, Shape{5, 20, 64}, rng);
    Weight w = make_weight(DType::kBF16, 21, 99, rng);
    PackedWeight packed(w.view, nullptr, prec);
    std::vector<float> x = random_vec(37 * 99, rng), all(37 * 21), one(21);
    packed.forward(x.data(), 37, all.data());
    packed.forward(x.data() + 20 * 99, 1, one.data());
    for (int64_t j = 0; j < 21; ++j) ASSERT_EQ(one[j], all[20 * 21 + j]);
    for (Shape s : {Shape{1, 7, 13}, {37, 21, 99}}) expect_gated_equals_two_outputs(DType::kBF16, prec, s, rng);
  }
  for (Shape s : {Shape{1, 7, 13}, {37, 21, 99}}) expect_bf16_rows_give_float_bits(DType::kBF16, s, rng);
  force_portable_kernels(false);
}

// The AVX2 kernels (forced where the CPU has AVX-512 too) keep the portable scalar path's
// per-element chain: the same bits for every storage, both precisions, decode-sized and blocked
// batches, ragged N and odd K; SiLU-gated pairs and bf16 rows in and out stay consistent.
TEST(PackedMatmul, Avx2PathGivesThePortableBits) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2, FMA and F16C";
  std::mt19937 rng(23);
  const Shape shapes[] = {{1, 7, 13},   {2, 33, 64},  {3, 50, 97},   {4, 65, 600}, {5, 17, 256},
                          {9, 47, 255}, {37, 21, 99}, {70, 40, 130}, {150, 33, 64}};
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16})
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0})
      for (Shape s : shapes) {
        if (dt == DType::kQ8_0 && s.k % 32) continue;
        const std::string at = std::string(dtype_name(dt)) + (prec == MatmulPrecision::kExact ? " exact" : " bf16") +
                               " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k);
        Weight w = make_weight(dt, s.n, s.k, rng);
        const std::vector<float> x = random_vec(size_t(s.m * s.k), rng), bias = random_vec(size_t(s.n), rng);
        force_portable_kernels(true);  // packed uncoded, as both paths read it
        const PackedWeight plain(w.view, bias.data(), prec);
        force_portable_kernels(false);
        const std::vector<float> want = forward_on(false, plain, x, s.m), got = forward_on(true, plain, x, s.m);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << at;
      }
  // A gated weight's sums are the plain ones; its SiLU*mul is the AVX2 tier's vector one (fused.h),
  // so it equals two outputs and silu_mul_fast on that tier.
  force_avx2_kernels(true);
  for (auto prec : {MatmulPrecision::kExact, MatmulPrecision::kBF16})
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16})
      for (Shape s : shapes) expect_gated_equals_two_outputs(dt, prec, s, rng);
  for (Shape s : {Shape{1, 7, 13}, {5, 17, 256}, {37, 21, 99}}) expect_bf16_rows_give_float_bits(DType::kBF16, s, rng);
  force_avx2_kernels(false);
}

}  // namespace
}  // namespace pagellm::kernels
