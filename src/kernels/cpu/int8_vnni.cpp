#include "kernels/cpu/int8_vnni.h"

#include <immintrin.h>

#include <array>

// GCC 12's _mm512_cvtepi32_ps passes _mm512_undefined_ps() as its unused merge source, which
// -Wmaybe-uninitialized reports (as in packed_matmul.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define PAGELLM_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#include "kernels/cpu/int8_vnni_tile.h"

namespace pagellm::kernels::vnni {
namespace {

using TileFn = void (*)(const avx2::Operands&, const uint8_t*, const PanelOut&, int64_t, bool);
// kTiles[rows - 1]
constexpr std::array<TileFn, 8> kTiles = {&int8_tile<1>, &int8_tile<2>, &int8_tile<3>, &int8_tile<4>,
                                          &int8_tile<5>, &int8_tile<6>, &int8_tile<7>, &int8_tile<8>};

}  // namespace

bool available() {
  static const bool has =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  return has;
}

void multiply_int8(const avx2::Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t count,
                   int64_t r0, int64_t r1) {
  multiply_int8_tiles(kTiles, op, panels, outs, count, r0, r1);
}

}  // namespace pagellm::kernels::vnni
