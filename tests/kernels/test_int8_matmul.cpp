// Q8_0 weights computed in int8 (MatmulPrecision::kInt8): the activations' quantization against
// its definition, the products against an integer reference computed from the source blocks and
// against the float32 matmul within the quantization's error, batch invariance, and the AVX2
// kernels against the portable path bit for bit.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/amx_matmul.h"
#include "kernels/cpu/fused.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/q8_activations.h"
#include "packed_weight_fixtures.h"
#include "tensor/convert.h"

namespace pagellm::kernels {
namespace {

using namespace fixtures;

std::string where(Shape s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k);
}

// Rows of 32-value blocks of every kind: normal values, zeros, one large outlier, values so
// small their scale would be subnormal, ties (x / d = i + 0.5), an infinity, a NaN.
std::vector<float> awkward_rows(int64_t k, std::mt19937& rng) {
  std::vector<float> x = random_vec(static_cast<size_t>(k), rng);
  const int64_t blocks = k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    float* v = x.data() + b * 32;
    switch (b % 8) {
      case 1:
        std::fill(v, v + 32, 0.0f);
        break;
      case 2:
        v[5] = 300.0f;
        break;
      case 3:
        for (int i = 0; i < 32; ++i) v[i] *= 1e-38f;
        break;
      case 4:  // amax 127: d = 1, so 2.5, -0.5, ... are ties
        v[0] = 127.0f;
        for (int i = 1; i < 32; ++i) v[i] = static_cast<float>(i % 9) - 4.5f;
        break;
      case 5:
        v[7] = std::numeric_limits<float>::infinity();
        break;
      case 6:
        v[31] = std::numeric_limits<float>::quiet_NaN();
        break;
      default:
        break;
    }
  }
  return x;
}

// The definition in q8_activations.h, checked value by value (independent of the code's form).
TEST(Q8Activations, EachValueIsTheNearestStepOfItsBlocksScale) {
  std::mt19937 rng(31);
  const int64_t k = 32 * 40;
  const std::vector<float> x = awkward_rows(k, rng);
  for (bool portable : {true, false}) {
    if (!portable && !cpu_has_avx2()) continue;
    std::vector<int8_t> q(static_cast<size_t>(k), 99);
    std::vector<float> d(static_cast<size_t>(k / 32), -1.0f);
    (portable ? quantize_row_q8_portable : quantize_row_q8)(x.data(), k, q.data(), d.data());
    for (int64_t b = 0; b < k / 32; ++b) {
      const float* v = x.data() + b * 32;
      const int8_t* qb = q.data() + b * 32;
      bool finite = true;
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) {
        finite = finite && std::isfinite(v[i]);
        if (std::isfinite(v[i])) amax = std::max(amax, std::fabs(v[i]));
      }
      const std::string at = (portable ? "portable" : "avx2") + std::string(" block ") + std::to_string(b);
      if (!finite || amax / 127.0f < FLT_MIN) {
        if (finite) {
          EXPECT_EQ(d[b], 0.0f) << at;
        } else {
          EXPECT_TRUE(std::isnan(d[b])) << at;
        }
        for (int i = 0; i < 32; ++i) ASSERT_EQ(qb[i], 0) << at;
        continue;
      }
      ASSERT_EQ(d[b], amax / 127.0f) << at;
      int largest = 0;
      for (int i = 0; i < 32; ++i) {
        // The nearest step (the scaled value is rounded to float first: within 1e-5 of a tie,
        // either neighbour); an exact tie goes to the even one.
        const double exact = static_cast<double>(v[i]) / static_cast<double>(d[b]);
        ASSERT_LE(std::fabs(exact - qb[i]), 0.5 + 1e-5) << at << " value " << i << " " << v[i];
        if (std::fabs(exact - std::floor(exact) - 0.5) == 0.0) {
          ASSERT_EQ(qb[i] % 2, 0) << at << " tie " << v[i];
        }
        largest = std::max(largest, std::abs(int{qb[i]}));
      }
      EXPECT_EQ(largest, 127) << at;
    }
  }
}

TEST(Q8Activations, Avx2GivesThePortableBits) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2";
  std::mt19937 rng(32);
  for (int64_t k : {32, 96, 896, 4864}) {
    const std::vector<float> x = awkward_rows(k, rng);
    std::vector<int8_t> q1(static_cast<size_t>(k)), q2(q1.size());
    std::vector<float> d1(static_cast<size_t>(k / 32)), d2(d1.size());
    quantize_row_q8_portable(x.data(), k, q1.data(), d1.data());
    quantize_row_q8(x.data(), k, q2.data(), d2.data());
    EXPECT_EQ(q1, q2) << "k=" << k;
    EXPECT_EQ(std::memcmp(d1.data(), d2.data(), d1.size() * sizeof(float)), 0) << "k=" << k;
  }
}

// Row r of x W^T + bias in double from the source Q8_0 blocks and the quantized activations:
// sum over blocks of d_w * d_x * (integer dot product).
std::vector<double> integer_reference(const Weight& w, const std::vector<float>& x, const std::vector<float>& bias,
                                      Shape s, std::vector<double>* magnitude) {
  std::vector<double> y(static_cast<size_t>(s.m * s.n));
  magnitude->assign(y.size(), 0.0);
  std::vector<int8_t> q(static_cast<size_t>(s.k));
  std::vector<float> d(static_cast<size_t>(s.k / 32));
  for (int64_t r = 0; r < s.m; ++r) {
    quantize_row_q8_portable(x.data() + r * s.k, s.k, q.data(), d.data());
    for (int64_t j = 0; j < s.n; ++j) {
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(w.view.row(j));
      double sum = bias[static_cast<size_t>(j)], mag = 0;
      for (int64_t b = 0; b < s.k / 32; ++b) {
        int64_t dot = 0;
        for (int i = 0; i < 32; ++i) dot += int64_t{blocks[b].qs[i]} * q[static_cast<size_t>(b * 32 + i)];
        const double term = double(f16_to_f32(blocks[b].scale_f16)) * d[static_cast<size_t>(b)] * double(dot);
        sum += term;
        mag += std::fabs(term);
      }
      y[static_cast<size_t>(r * s.n + j)] = sum;
      (*magnitude)[static_cast<size_t>(r * s.n + j)] = mag;
    }
  }
  return y;
}

// Decode rows (1-4), batches in 4-row tiles with a ragged last tile, ragged N, K from one block up.
const Shape kShapes[] = {{1, 7, 32},    {2, 33, 64},   {3, 100, 320}, {4, 130, 96},  {5, 47, 256},
                         {16, 64, 896}, {17, 50, 192}, {64, 70, 288}, {65, 37, 896}, {150, 40, 4224}};

void check_int8_against_references(Shape s, std::mt19937& rng) {
  Weight w = make_weight(DType::kQ8_0, s.n, s.k, rng);
  const std::vector<float> x = random_vec(size_t(s.m * s.k), rng), bias = random_vec(size_t(s.n), rng);
  const PackedWeight packed(w.view, bias.data(), MatmulPrecision::kInt8);
  ASSERT_TRUE(packed.int8_compute());
  std::vector<float> got(static_cast<size_t>(s.m * s.n), NAN), real(got.size());
  packed.forward(x.data(), s.m, got.data());
  std::vector<double> magnitude;
  const std::vector<double> want = integer_reference(w, x, bias, s, &magnitude);
  matmul(w.view, x.data(), s.m, real.data(), bias.data());
  std::vector<float> wrow(static_cast<size_t>(s.k));
  for (int64_t j = 0; j < s.n; ++j) {
    dequantize_row(DType::kQ8_0, w.view.row(j), wrow.data(), s.k);
    for (int64_t r = 0; r < s.m; ++r) {
      const size_t i = static_cast<size_t>(r * s.n + j);
      // float32 accumulation of the blocks' terms
      ASSERT_NEAR(got[i], want[i], 1e-5 * magnitude[i] + 1e-6) << where(s) << " at " << r << "," << j;
      // Against the unquantized product: each activation moved by at most half its block's step.
      std::vector<int8_t> q(static_cast<size_t>(s.k));
      std::vector<float> d(static_cast<size_t>(s.k / 32));
      quantize_row_q8_portable(x.data() + r * s.k, s.k, q.data(), d.data());
      double bound = 1e-5 * magnitude[i] + 1e-4;
      for (int64_t e = 0; e < s.k; ++e) bound += std::fabs(wrow[static_cast<size_t>(e)]) * d[size_t(e / 32)] / 2;
      ASSERT_NEAR(got[i], real[i], bound) << where(s) << " at " << r << "," << j;
    }
  }
}

TEST(Int8Matmul, MatchesTheIntegerReferenceAndTheFloatProductWithinQuantization) {
  std::mt19937 rng(33);
  for (Shape s : kShapes) check_int8_against_references(s, rng);
  force_portable_kernels(true);
  for (Shape s : {Shape{1, 7, 32}, {5, 47, 256}, {17, 50, 192}}) check_int8_against_references(s, rng);
  force_portable_kernels(false);
}

// A row's result alone (M = 1) equals its result inside a 150-row batch and every batch of 1..33
// rows, whatever the other rows hold.
TEST(Int8Matmul, RowResultIsBitIdenticalForAnyBatch) {
  std::mt19937 rng(34);
  for (const int64_t n : {53, 100}) {
    const int64_t k = 608;
    Weight w = make_weight(DType::kQ8_0, n, k, rng);
    const std::vector<float> bias = random_vec(size_t(n), rng);
    const PackedWeight packed(w.view, bias.data(), MatmulPrecision::kInt8);
    const std::vector<float> x = random_vec(size_t(150 * k), rng);
    std::vector<float> all(static_cast<size_t>(150 * n)), one(static_cast<size_t>(n));
    packed.forward(x.data(), 150, all.data());
    for (int64_t row : {0, 3, 77, 149}) {
      packed.forward(x.data() + row * k, 1, one.data());
      for (int64_t j = 0; j < n; ++j) ASSERT_EQ(one[j], all[row * n + j]) << "row " << row << " col " << j;
    }
    for (int64_t m = 1; m <= 33; ++m) {
      std::vector<float> y(static_cast<size_t>(m * n));
      packed.forward(x.data(), m, y.data());
      for (int64_t i = 0; i < m * n; ++i) ASSERT_EQ(y[i], all[i]) << "m=" << m;
    }
  }
}

// The AVX2 tiles, and the tiles the CPU picks unforced (AVX-512 VNNI where it has them, natively:
// test_int8_vnni_emulated checks that tile's source on any CPU), give the portable path's bits.
TEST(Int8Matmul, Avx2AndVnniGiveThePortableBits) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2";
  std::printf("[int8] unforced tiles on this CPU: %s\n", cpu_has_avx512_vnni() ? "AVX-512 VNNI" : "AVX2");
  std::mt19937 rng(35);
  for (Shape s : kShapes) {
    Weight w = make_weight(DType::kQ8_0, s.n, s.k, rng);
    const std::vector<float> bias = random_vec(size_t(s.n), rng);
    std::vector<float> x = random_vec(size_t(s.m * s.k), rng);
    x[0] = 0.0f;  // (a row of awkward blocks is the quantizer's test's)
    const PackedWeight packed(w.view, bias.data(), MatmulPrecision::kInt8);
    const std::vector<float> want = forward_on(false, packed, x, s.m), got = forward_on(true, packed, x, s.m);
    ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << where(s);
    std::vector<float> unforced(want.size(), NAN);
    packed.forward(x.data(), s.m, unforced.data());
    ASSERT_EQ(std::memcmp(unforced.data(), want.data(), want.size() * sizeof(float)), 0) << where(s);
  }
}

// The AMX int8 tiles give the VNNI tiles' bits (hence the portable path's) on batches of every
// shape they take: one row block of 5-16 rows (tiles at that height), several with a ragged last
// one (tiles of 16 rows reading past the batch's last row), K of 1, 2 and 3 blocks (the tile
// pipeline's ends) and longer, ragged N, and a batch split across row blocks and threads. A BF16
// weight on the AMX tiles runs between two calls, so each kernel's tile configuration is loaded
// again after the other's.
TEST(Int8Matmul, AmxTilesGiveTheVnniBits) {
  if (!amx::int8_available()) GTEST_SKIP() << "this CPU has no AMX-INT8 tiles (or the kernel did not grant them)";
  std::mt19937 rng(39);
  Weight other = make_weight(DType::kBF16, 40, 96, rng);
  const PackedWeight bf16(other.view, nullptr, MatmulPrecision::kBF16);
  ASSERT_TRUE(bf16.uses_amx());
  const std::vector<float> other_x = random_vec(size_t(20 * 96), rng);
  std::vector<float> other_y(size_t(20 * 40));
  for (Shape s : {Shape{5, 7, 32},
                  {6, 33, 64},
                  {8, 16, 96},
                  {16, 64, 896},
                  {17, 50, 192},
                  {31, 100, 320},
                  {33, 17, 32},
                  {64, 70, 288},
                  {150, 40, 4224},
                  {300, 130, 896}}) {
    Weight w = make_weight(DType::kQ8_0, s.n, s.k, rng);
    const std::vector<float> bias = random_vec(size_t(s.n), rng), x = random_vec(size_t(s.m * s.k), rng);
    const PackedWeight packed(w.view, bias.data(), MatmulPrecision::kInt8);
    ASSERT_TRUE(packed.uses_amx_int8(s.m)) << where(s);
    std::vector<float> amx_y(static_cast<size_t>(s.m * s.n), NAN), vnni_y(amx_y.size(), NAN);
    packed.forward(x.data(), s.m, amx_y.data());
    bf16.forward(other_x.data(), 20, other_y.data());
    packed.forward(x.data(), s.m, amx_y.data());
    amx::force_disabled(true);
    const bool vnni = !packed.uses_amx_int8(s.m) && cpu_has_avx512_vnni();
    packed.forward(x.data(), s.m, vnni_y.data());
    amx::force_disabled(false);
    ASSERT_TRUE(vnni) << where(s);
    ASSERT_EQ(std::memcmp(amx_y.data(), vnni_y.data(), amx_y.size() * sizeof(float)), 0) << where(s);
  }
  EXPECT_FALSE(PackedWeight(other.view, nullptr, MatmulPrecision::kInt8).uses_amx_int8(16)) << "not Q8_0";
}

// q|k|v-style parts in one weight and a SiLU-gated gate|up pair give the bits of the weights
// packed alone (and of silu_mul_fast over the two outputs).
TEST(Int8Matmul, FusedPartsAndGatedPairsEqualSeparateWeights) {
  std::mt19937 rng(36);
  for (Shape s : {Shape{1, 40, 64}, {3, 33, 96}, {6, 17, 320}, {70, 20, 640}, {40, 130, 96}, {150, 200, 256}}) {
    Weight a = make_weight(DType::kQ8_0, s.n, s.k, rng), b = make_weight(DType::kQ8_0, 7, s.k, rng);
    const std::vector<float> x = random_vec(size_t(s.m * s.k), rng), ba = random_vec(size_t(s.n), rng);
    const LinearPart parts[] = {{&a.view, ba.data()}, {&b.view, nullptr}};
    const PackedWeight fused(parts, MatmulPrecision::kInt8);
    std::vector<float> ya(static_cast<size_t>(s.m * s.n)), yb(static_cast<size_t>(s.m * 7));
    float* ys[] = {ya.data(), yb.data()};
    fused.forward(x.data(), s.m, ys);
    EXPECT_EQ(ya, forward_on(cpu_has_avx2(), PackedWeight(a.view, ba.data(), MatmulPrecision::kInt8), x, s.m))
        << where(s);
    EXPECT_EQ(yb, forward_on(cpu_has_avx2(), PackedWeight(b.view, nullptr, MatmulPrecision::kInt8), x, s.m))
        << where(s);

    Weight u = make_weight(DType::kQ8_0, s.n, s.k, rng);
    const std::vector<float> bu = random_vec(size_t(s.n), rng);
    const LinearPart pair[] = {{&a.view, ba.data()}, {&u.view, bu.data()}};
    const PackedWeight gated(pair, MatmulPrecision::kInt8, nullptr, false, Epilogue::kSiluMul);
    const PackedWeight two(pair, MatmulPrecision::kInt8);
    std::vector<float> got(static_cast<size_t>(s.m * s.n)), gate(got.size()), up(got.size());
    gated.forward(x.data(), s.m, got.data());
    float* two_ys[] = {gate.data(), up.data()};
    two.forward(x.data(), s.m, two_ys);
    silu_mul_fast(gate.data(), up.data(), s.m * s.n, gate.data());
    EXPECT_EQ(std::memcmp(got.data(), gate.data(), got.size() * sizeof(float)), 0) << where(s);
  }
}

// What int8 compute does not take: weights other than Q8_0, and Q8_0 weights holding -128 (the
// kernels' sign trick needs |q| <= 127), compute as kExact, with its bits.
TEST(Int8Matmul, OtherWeightsComputeExactly) {
  std::mt19937 rng(37);
  const Shape s{3, 40, 96};
  const std::vector<float> x = random_vec(size_t(s.m * s.k), rng);
  Weight q8 = make_weight(DType::kQ8_0, s.n, s.k, rng);
  reinterpret_cast<BlockQ8_0*>(q8.bytes.data() + 5 * q8.view.row_bytes())[1].qs[3] = -128;
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    Weight w = make_weight(dt, s.n, s.k, rng);
    const PackedWeight int8(w.view, nullptr, MatmulPrecision::kInt8), exact(w.view, nullptr, MatmulPrecision::kExact);
    EXPECT_FALSE(int8.int8_compute()) << dtype_name(dt);
    EXPECT_EQ(forward_on(cpu_has_avx2(), int8, x, s.m), forward_on(cpu_has_avx2(), exact, x, s.m)) << dtype_name(dt);
  }
  const PackedWeight int8(q8.view, nullptr, MatmulPrecision::kInt8), exact(q8.view, nullptr, MatmulPrecision::kExact);
  EXPECT_FALSE(int8.int8_compute());
  EXPECT_EQ(forward_on(cpu_has_avx2(), int8, x, s.m), forward_on(cpu_has_avx2(), exact, x, s.m));
}

// An activation block holding an infinity or a NaN makes every output of its row NaN (as float32
// products would), and leaves the other rows alone.
TEST(Int8Matmul, NonFiniteActivationsGiveNaNInTheirRowOnly) {
  std::mt19937 rng(38);
  const Shape s{3, 20, 128};
  Weight w = make_weight(DType::kQ8_0, s.n, s.k, rng);
  const PackedWeight packed(w.view, nullptr, MatmulPrecision::kInt8);
  for (float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    std::vector<float> x = random_vec(size_t(s.m * s.k), rng);
    x[static_cast<size_t>(s.k + 70)] = bad;  // row 1
    for (bool avx2 : {false, true}) {
      if (avx2 && !cpu_has_avx2()) continue;
      const std::vector<float> y = forward_on(avx2, packed, x, s.m);
      for (int64_t j = 0; j < s.n; ++j) {
        EXPECT_TRUE(std::isnan(y[static_cast<size_t>(s.n + j)])) << j;
        EXPECT_TRUE(std::isfinite(y[static_cast<size_t>(j)])) << j;
        EXPECT_TRUE(std::isfinite(y[static_cast<size_t>(2 * s.n + j)])) << j;
      }
    }
  }
}

}  // namespace
}  // namespace pagellm::kernels
