// The sampler's vectorized weights against e^x in double, with banned (-inf), NaN and underflowing
// logits, on the best path of this CPU (AVX-512, AVX2) and the portable one.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/exp_weights.h"
#include "kernels/cpu/packed_matmul.h"

namespace pagellm::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

class ExpWeights : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { force_portable_kernels(GetParam()); }
  void TearDown() override { force_portable_kernels(false); }
};
INSTANTIATE_TEST_SUITE_P(Paths, ExpWeights, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("Portable") : std::string("Best"); });

TEST_P(ExpWeights, MatchExpInDoubleWithBannedNanAndUnderflow) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  for (int64_t n : {1, 15, 16, 17, 1000, 32000}) {
    for (float temperature : {0.3f, 1.0f, 2.5f}) {
      std::vector<float> logits(static_cast<size_t>(n));
      for (float& l : logits) l = nd(rng);
      if (n > 3) {
        logits[1] = -kInf;
        logits[2] = std::numeric_limits<float>::quiet_NaN();
        logits[3] = -1e4f;  // far below the max: underflows to 0
      }
      double brute_max = -kInf;
      for (float l : logits)
        if (!std::isnan(l)) brute_max = std::max<double>(brute_max, l);
      const float max = max_logit(logits.data(), n);
      ASSERT_EQ(max, static_cast<float>(brute_max));

      const float inv_t = 1.0f / temperature;
      std::vector<float> w(static_cast<size_t>(n));
      std::vector<double> sums(static_cast<size_t>((n + 15) / 16));
      exp_weights(logits.data(), n, max, inv_t, w.data(), sums.data());
      for (int64_t b = 0; b < static_cast<int64_t>(sums.size()); ++b) {
        double want_sum = 0;
        for (int64_t i = b * 16; i < std::min<int64_t>(n, b * 16 + 16); ++i) {
          const float l = logits[static_cast<size_t>(i)];
          const double x = (static_cast<double>(l) - max) * inv_t;
          const double want = std::isnan(l) || l == -kInf || x < -87.0 ? 0.0 : std::exp(x);
          want_sum += want;
          if (want == 0.0)
            EXPECT_EQ(w[static_cast<size_t>(i)], 0.0f) << "n=" << n << " i=" << i;
          else  // x is rounded to float first: an absolute error of ~|x| 2^-23 in the exponent
            EXPECT_NEAR(w[static_cast<size_t>(i)], want, (2e-6 + 1.5e-7 * std::abs(x)) * want)
                << "n=" << n << " i=" << i;
        }
        EXPECT_NEAR(sums[static_cast<size_t>(b)], want_sum, 2e-5 * want_sum + 1e-30) << "block " << b;
      }
    }
  }
}

TEST_P(ExpWeights, AllBannedOrNanHasNoMax) {
  const std::vector<float> logits = {-kInf, std::numeric_limits<float>::quiet_NaN(), -kInf};
  EXPECT_EQ(max_logit(logits.data(), 3), -kInf);
}

}  // namespace
}  // namespace pagellm::kernels
