// --dtype: the names vLLM accepts that we support, clear errors for the rest, and what `auto`
// resolves to for a model's weights on this CPU.
#include <gtest/gtest.h>

#include "kernels/cpu/amx_matmul.h"
#include "kernels/cpu/packed_matmul.h"
#include "model/compute_dtype.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

using kernels::MatmulPrecision;

TEST(ComputeDType, ParsesNamesAndRejectsOthersNamingTheFlag) {
  EXPECT_EQ(parse_compute_dtype("auto"), ComputeDType::kAuto);
  EXPECT_EQ(parse_compute_dtype("float32"), ComputeDType::kFloat32);
  EXPECT_EQ(parse_compute_dtype("float"), ComputeDType::kFloat32);
  EXPECT_EQ(parse_compute_dtype("bfloat16"), ComputeDType::kBFloat16);
  EXPECT_EQ(parse_compute_dtype("int8"), ComputeDType::kInt8);
  for (const char* bad : {"float16", "half", "fp8", ""}) {
    try {
      parse_compute_dtype(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("--dtype"), std::string::npos) << e.what();
    }
  }
}

TEST(ComputeDType, AutoIsBfloat16OnlyForBf16WeightsOnAvx512Bf16) {
  const std::string dir = test::shared_dir() + "/models/tiny-random/llama-gqa/";
  auto f32 = load_model(dir + "llama-gqa-f32.gguf");
  auto bf16 = load_model(dir + "llama-gqa-bf16.gguf");
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kAuto, *f32), MatmulPrecision::kExact);
  // With or without AMX: vdpbf16ps is enough.
  for (bool amx_off : {false, true}) {
    kernels::amx::force_disabled(amx_off);
    EXPECT_EQ(resolve_matmul_precision(ComputeDType::kAuto, *bf16),
              kernels::cpu_has_avx512_bf16() ? MatmulPrecision::kBF16 : MatmulPrecision::kExact);
  }
  kernels::amx::force_disabled(false);
  kernels::force_portable_kernels(true);  // a CPU without AVX512-BF16
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kAuto, *bf16), MatmulPrecision::kExact);
  kernels::force_portable_kernels(false);
  // An explicit choice is kept whatever the weights and the CPU.
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kFloat32, *bf16), MatmulPrecision::kExact);
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kBFloat16, *f32), MatmulPrecision::kBF16);
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kInt8, *f32), MatmulPrecision::kInt8);
}

TEST(ComputeDType, AutoIsInt8ForQ8_0WeightsOnlyWhereTheVnniTilesRun) {
  const std::string dir = test::shared_dir() + "/models/tiny-random/llama-gqa/";
  auto q8 = load_model(dir + "llama-gqa-q8_0.gguf");
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kAuto, *q8),
            kernels::cpu_has_avx512_vnni() ? MatmulPrecision::kInt8 : MatmulPrecision::kExact);
  kernels::force_avx2_kernels(true);  // a CPU with AVX2 and no AVX-512: float32
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kAuto, *q8), MatmulPrecision::kExact);
  kernels::force_avx2_kernels(false);
  kernels::force_portable_kernels(true);
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kAuto, *q8), MatmulPrecision::kExact);
  kernels::force_portable_kernels(false);
  // Asked for, each precision is kept.
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kFloat32, *q8), MatmulPrecision::kExact);
  EXPECT_EQ(resolve_matmul_precision(ComputeDType::kBFloat16, *q8), MatmulPrecision::kBF16);
  // The F32 and BF16 files of the same model are not int8 under auto.
  auto f32 = load_model(dir + "llama-gqa-f32.gguf");
  EXPECT_NE(resolve_matmul_precision(ComputeDType::kAuto, *f32), MatmulPrecision::kInt8);
}

}  // namespace
}  // namespace pagellm
