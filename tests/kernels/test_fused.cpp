// The fast elementwise kernels against the plain references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/fused.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/rope.h"

namespace pagellm::kernels {
namespace {

std::vector<float> random_vec(size_t n, std::mt19937& rng, float stddev = 1.0f) {
  std::normal_distribution<float> nd(0.0f, stddev);
  std::vector<float> v(n);
  for (float& f : v) f = nd(rng);
  return v;
}

void expect_silu_mul_matches_reference() {
  std::mt19937 rng(1);
  for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 4864, 1001}) {
    std::vector<float> gate = random_vec(size_t(n), rng, 6.0f), up = random_vec(size_t(n), rng);
    gate[0] = -100.0f;  // exp overflow side
    if (n > 1) gate[1] = 100.0f;
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    silu_mul(gate.data(), up.data(), n, want.data());
    silu_mul_fast(gate.data(), up.data(), n, got.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 1e-30) << i;
    silu_mul_fast(gate.data(), up.data(), n, gate.data());  // out aliasing gate
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(gate[i], got[i]) << "aliased " << i;
  }
}

// On the CPU's own path, and on the AVX2 one forced where the CPU has AVX-512 too.
TEST(Fused, SiluMulMatchesReference) {
  for (bool avx2 : {false, true}) {
    if (avx2 && !cpu_has_avx2()) continue;
    force_avx2_kernels(avx2);
    SCOPED_TRACE(avx2 ? "avx2 forced" : "native");
    expect_silu_mul_matches_reference();
    force_avx2_kernels(false);
  }
}

TEST(Fused, PortablePathsMatchReference) {
  std::mt19937 rng(4);
  force_portable_kernels(true);
  std::vector<float> gate = random_vec(100, rng, 6.0f), up = random_vec(100, rng), w = random_vec(100, rng);
  std::vector<float> want(100), got(100);
  silu_mul(gate.data(), up.data(), 100, want.data());
  silu_mul_fast(gate.data(), up.data(), 100, got.data());
  for (size_t i = 0; i < 100; ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i])) << i;
  rms_norm(gate.data(), w.data(), 2, 50, 1e-5, want.data());
  rms_norm_fast(gate.data(), w.data(), 2, 50, 1e-5, got.data());
  force_portable_kernels(false);
  for (size_t i = 0; i < 100; ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i])) << i;
}

TEST(Fused, RmsNormAndResidualMatchReference) {
  std::mt19937 rng(2);
  for (int64_t n : {8, 64, 80, 896, 1000}) {
    const int64_t rows = 3;
    std::vector<float> x = random_vec(size_t(rows * n), rng, 3.0f), w = random_vec(size_t(n), rng),
                       d = random_vec(size_t(rows * n), rng);
    std::vector<float> want(x.size()), got(x.size());
    rms_norm(x.data(), w.data(), rows, n, 1e-6, want.data());
    rms_norm_fast(x.data(), w.data(), rows, n, 1e-6, got.data());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i])) << i;
    std::vector<float> x2 = x, sum = x;
    for (size_t i = 0; i < x.size(); ++i) sum[i] += d[i];
    rms_norm(sum.data(), w.data(), rows, n, 1e-6, want.data());
    add_rms_norm(x2.data(), d.data(), w.data(), rows, n, 1e-6, got.data());
    EXPECT_EQ(x2, sum);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i])) << i;
  }
}

// The norms storing bf16 rows: bit for bit round_to_bf16_pairs of the float norms (odd rows end in
// 0, nothing past a row's pairs is written), the residual updated as add_rms_norm updates it; on
// the AVX-512 and the portable paths.
TEST(Fused, NormsStoringBf16RowsRoundTheFloatNorms) {
  std::mt19937 rng(5);
  for (bool portable : {false, true}) {
    force_portable_kernels(portable);
    for (int64_t n : {7, 64, 80, 896, 1001}) {
      const int64_t rows = 3, ld = (n + 1) / 2 + 2;
      std::vector<float> x = random_vec(size_t(rows * n), rng, 3.0f), w = random_vec(size_t(n), rng),
                         d = random_vec(size_t(rows * n), rng), f(x.size());
      auto rounded = [&](const std::vector<float>& v) {
        std::vector<uint32_t> out(static_cast<size_t>(rows * ld), 0xdeadbeefu);
        for (int64_t r = 0; r < rows; ++r) round_to_bf16_pairs(v.data() + r * n, n, out.data() + r * ld);
        return out;
      };
      std::vector<uint32_t> got(static_cast<size_t>(rows * ld), 0xdeadbeefu);
      rms_norm_fast(x.data(), w.data(), rows, n, 1e-6, f.data());
      rms_norm_fast_bf16(x.data(), w.data(), rows, n, 1e-6, got.data(), ld);
      EXPECT_EQ(got, rounded(f)) << "n=" << n << (portable ? " portable" : "");
      std::vector<float> x_float = x, x_bf16 = x;
      std::fill(got.begin(), got.end(), 0xdeadbeefu);
      add_rms_norm(x_float.data(), d.data(), w.data(), rows, n, 1e-6, f.data());
      add_rms_norm_bf16(x_bf16.data(), d.data(), w.data(), rows, n, 1e-6, got.data(), ld);
      EXPECT_EQ(x_bf16, x_float);
      EXPECT_EQ(got, rounded(f)) << "n=" << n << (portable ? " portable" : "");
    }
  }
  force_portable_kernels(false);
}

TEST(Fused, RopeTablesAreBitIdentical) {
  std::mt19937 rng(3);
  for (int64_t hd : {8, 64, 80, 128}) {
    std::vector<double> inv_freq(static_cast<size_t>(hd / 2));
    for (int64_t i = 0; i < hd / 2; ++i) inv_freq[i] = std::pow(10000.0, -2.0 * double(i) / double(hd));
    for (int64_t pos : {0, 1, 17, 4095, 100000}) {
      std::vector<float> x = random_vec(size_t(3 * hd), rng), y = x;
      std::vector<float> c(static_cast<size_t>(hd / 2)), s(c.size());
      rope_rotate_half(x.data(), 3, hd, pos, inv_freq.data());
      rope_cos_sin(pos, inv_freq.data(), hd / 2, c.data(), s.data());
      rope_rotate_half_cs(y.data(), 3, hd, c.data(), s.data());
      EXPECT_EQ(x, y) << hd << " " << pos;
    }
  }
}

}  // namespace
}  // namespace pagellm::kernels
