#include "loader/ggml_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "tensor/convert.h"
#include "util/error.h"

namespace pagellm {
namespace {

constexpr int64_t kSuperBlock = 256;  // QK_K: the K-quants' super-block

// IQ4_NL / IQ4_XS: a nibble picks one of these 16 levels (ggml-common.h's kvalues_iq4nl).
constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Q4_0 / Q4_1: a scale (and for Q4_1 a minimum), then 16 bytes whose low nibbles are values 0-15 and
// high nibbles values 16-31.
void q4_legacy(const uint8_t* b, float* y, bool has_min) {
  const float d = half_at(b);
  const float m = has_min ? half_at(b + 2) : 0.0f;
  const uint8_t* qs = b + (has_min ? 4 : 2);
  const int offset = has_min ? 0 : 8;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - offset) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - offset) * d + m;
  }
}

// Q5_0 / Q5_1: as Q4 with a fifth bit per value in a 32-bit word (bit j for value j).
void q5_legacy(const uint8_t* b, float* y, bool has_min) {
  const float d = half_at(b);
  const float m = has_min ? half_at(b + 2) : 0.0f;
  const uint8_t* p = b + (has_min ? 4 : 2);
  uint32_t high;
  std::memcpy(&high, p, 4);
  const uint8_t* qs = p + 4;
  const int offset = has_min ? 0 : 16;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0F) | static_cast<int>(((high >> j) & 1u) << 4);
    const int hi = (qs[j] >> 4) | static_cast<int>(((high >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo - offset) * d + m;
    y[j + 16] = static_cast<float>(hi - offset) * d + m;
  }
}

// The K-quants' 6-bit scale and minimum of sub-block j (0-7), packed into 12 bytes.
void scale_min_k4(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K: d, dmin, 12 bytes of sub-block scales/mins, [Q5_K: 32 bytes of fifth bits], 128 bytes of nibbles.
// Each 32-byte run of nibbles holds two sub-blocks of 32: low nibbles first, then high nibbles.
void k_quant_4_5(const uint8_t* b, float* y, bool five_bits) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* high = b + 16;
  const uint8_t* qs = b + (five_bits ? 48 : 16);
  for (int pair = 0; pair < 4; ++pair) {
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * pair, scales, &sc0, &m0);
    scale_min_k4(2 * pair + 1, scales, &sc1, &m1);
    const float d0 = d * static_cast<float>(sc0), min0 = dmin * static_cast<float>(m0);
    const float d1 = d * static_cast<float>(sc1), min1 = dmin * static_cast<float>(m1);
    for (int l = 0; l < 32; ++l) {
      int lo = qs[l] & 0x0F, hi = qs[l] >> 4;
      if (five_bits) {
        lo += ((high[l] >> (2 * pair)) & 1) << 4;
        hi += ((high[l] >> (2 * pair + 1)) & 1) << 4;
      }
      y[l] = d0 * static_cast<float>(lo) - min0;
      y[l + 32] = d1 * static_cast<float>(hi) - min1;
    }
    qs += 32;
    y += 64;
  }
}

// Q2_K / Q3_K: 256 values in two halves of 128, each 32 bytes of 2-bit values read four times (bit pairs 0-1,
// 2-3, 4-5, 6-7), each pass two runs of 16 (bytes 0-15, then 16-31) with a scale apiece.
// Q2_K: 16 bytes of 4-bit scale / 4-bit min, the 64 bytes of values, d, dmin.
void k_quant_2(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const float d = half_at(b + 80), dmin = half_at(b + 82);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* q = b + 16 + 32 * half;
    for (int pass = 0; pass < 4; ++pass) {
      for (int run = 0; run < 2; ++run, y += 16) {
        const uint8_t sc = *scales++;
        const float dl = d * static_cast<float>(sc & 0x0F), ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l) y[l] = dl * static_cast<float>((q[16 * run + l] >> (2 * pass)) & 3) - ml;
      }
    }
  }
}

// Q3_K: 32 bytes of third bits (bit k of byte l: value l of pass k, a clear bit subtracts 4), the 64 bytes
// of 2-bit values, 12 bytes of sixteen 6-bit scales (low nibbles in bytes 0-7, high bit pairs in 8-11), d.
void k_quant_3(const uint8_t* b, float* y) {
  const uint8_t* third = b;
  const uint8_t* packed = b + 96;
  const float d = half_at(b + 108);
  int scale_index = 0;
  for (int half = 0; half < 2; ++half) {
    const uint8_t* q = b + 32 + 32 * half;
    for (int pass = 0; pass < 4; ++pass) {
      const int bit = 4 * half + pass;
      for (int run = 0; run < 2; ++run, y += 16, ++scale_index) {
        const int i = scale_index;
        const int low = i < 8 ? packed[i] & 0x0F : packed[i - 8] >> 4;
        const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        const float dl = d * static_cast<float>((low | (high << 4)) - 32);
        for (int l = 0; l < 16; ++l) {
          const int at = 16 * run + l;
          const int value = ((q[at] >> (2 * pass)) & 3) - ((third[at] >> bit) & 1 ? 0 : 4);
          y[l] = dl * static_cast<float>(value);
        }
      }
    }
  }
}

// IQ4_NL: a scale and 16 bytes of nibbles (low nibbles values 0-15, high 16-31) into kIq4Levels.
void iq4_nl(const uint8_t* b, float* y) {
  const float d = half_at(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(kIq4Levels[b[2 + j] & 0x0F]);
    y[j + 16] = d * static_cast<float>(kIq4Levels[b[2 + j] >> 4]);
  }
}

// IQ4_XS: d, then eight 6-bit sub-block scales (high bit pairs in a 16-bit word, low nibbles in 4 bytes), then
// eight IQ4_NL-style runs of 32 values.
void iq4_xs(const uint8_t* b, float* y) {
  const float d = half_at(b);
  uint16_t high;
  std::memcpy(&high, b + 2, 2);
  const uint8_t* low = b + 4;
  const uint8_t* qs = b + 8;
  for (int sub = 0; sub < 8; ++sub, qs += 16, y += 32) {
    const int scale = ((low[sub / 2] >> (4 * (sub % 2))) & 0x0F) | (((high >> (2 * sub)) & 3) << 4);
    const float dl = d * static_cast<float>(scale - 32);
    for (int j = 0; j < 16; ++j) {
      y[j] = dl * static_cast<float>(kIq4Levels[qs[j] & 0x0F]);
      y[j + 16] = dl * static_cast<float>(kIq4Levels[qs[j] >> 4]);
    }
  }
}

// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 int8 scales (one per 16 values), then d.
// Each half of 128 values takes 64 low-nibble bytes and 32 high bytes; its four runs of 32 values take the
// low/high nibble of the first/second 32 bytes and successive bit pairs of the high bytes.
void k_quant_6(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const int s = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[s] * q1);
      y[l + 32] = d * static_cast<float>(sc[s + 2] * q2);
      y[l + 64] = d * static_cast<float>(sc[s + 4] * q3);
      y[l + 96] = d * static_cast<float>(sc[s + 6] * q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

using BlockDecoder = void (*)(const uint8_t* block, float* values);

struct Decoder {
  GgmlQuantType type;
  BlockDecoder decode;
};

constexpr Decoder kDecoders[] = {
    {{2, "Q4_0", 32, 18}, [](const uint8_t* b, float* y) { q4_legacy(b, y, false); }},
    {{3, "Q4_1", 32, 20}, [](const uint8_t* b, float* y) { q4_legacy(b, y, true); }},
    {{6, "Q5_0", 32, 22}, [](const uint8_t* b, float* y) { q5_legacy(b, y, false); }},
    {{7, "Q5_1", 32, 24}, [](const uint8_t* b, float* y) { q5_legacy(b, y, true); }},
    {{10, "Q2_K", 256, 84}, k_quant_2},
    {{11, "Q3_K", 256, 110}, k_quant_3},
    {{12, "Q4_K", 256, 144}, [](const uint8_t* b, float* y) { k_quant_4_5(b, y, false); }},
    {{13, "Q5_K", 256, 176}, [](const uint8_t* b, float* y) { k_quant_4_5(b, y, true); }},
    {{14, "Q6_K", 256, 210}, k_quant_6},
    {{20, "IQ4_NL", 32, 18}, iq4_nl},
    {{23, "IQ4_XS", 256, 136}, iq4_xs},
};

// The decoder of a type, checked against the number of values it is asked for.
const Decoder& decoder_for(uint32_t ggml_type, int64_t n, const char* caller) {
  for (const Decoder& d : kDecoders)
    if (d.type.ggml_type == ggml_type && n % d.type.block_elems == 0) return d;
  fail(ErrorCode::kInternal, "{}: type {} with {} values", caller, ggml_type, n);
}

}  // namespace

std::optional<GgmlQuantType> ggml_quant_type(uint32_t ggml_type) {
  for (const Decoder& d : kDecoders)
    if (d.type.ggml_type == ggml_type) return d.type;
  return std::nullopt;
}

void dequantize_ggml(uint32_t ggml_type, const uint8_t* src, float* dst, int64_t n) {
  const Decoder& d = decoder_for(ggml_type, n, "dequantize_ggml");
  for (int64_t i = 0; i < n / d.type.block_elems; ++i)
    d.decode(src + i * d.type.block_bytes, dst + i * d.type.block_elems);
}

void quantize_q8_0(const float* src, BlockQ8_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += 32, ++dst) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    dst->scale_f16 = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) {
      // roundf (half away from zero) without the libm call, which took a third of a Q4_K model's load;
      // x minus its truncation is exact here.
      const float x = src[j] * inverse;
      if (!(std::fabs(x) < 128.0f)) {  // only from an infinite or NaN weight
        dst->qs[j] = 0;
        continue;
      }
      const int truncated = static_cast<int>(x);
      const int away = static_cast<int>(std::fabs(x - static_cast<float>(truncated)) >= 0.5f);  // no branch
      dst->qs[j] = static_cast<int8_t>(truncated + (x < 0 ? -away : away));
    }
  }
}

void convert_ggml_to_q8_0(uint32_t ggml_type, const uint8_t* src, BlockQ8_0* dst, int64_t n) {
  const Decoder& d = decoder_for(ggml_type, n, "convert_ggml_to_q8_0");
  const GgmlQuantType& t = d.type;
  auto convert_blocks = [&](int64_t first, int64_t last) {
    float values[kSuperBlock];
    for (int64_t b = first; b < last; ++b) {
      d.decode(src + b * t.block_bytes, values);
      quantize_q8_0(values, dst + b * (t.block_elems / 32), t.block_elems);
    }
  };
  // About 5 ns a value on one core (a 7B model: half a minute), so every core converts a share.
  const int64_t blocks = n / t.block_elems;
  const int64_t workers =
      std::clamp<int64_t>(std::min<int64_t>(std::thread::hardware_concurrency(), blocks / 256), 1, 64);
  std::vector<std::thread> threads;
  for (int64_t w = 1; w < workers; ++w)
    threads.emplace_back(convert_blocks, blocks * w / workers, blocks * (w + 1) / workers);
  convert_blocks(0, blocks / workers);
  for (std::thread& th : threads) th.join();
}

}  // namespace pagellm
