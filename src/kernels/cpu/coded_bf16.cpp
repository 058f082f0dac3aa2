#include "kernels/cpu/coded_bf16.h"

#include <algorithm>
#include <cstring>

namespace pagellm::kernels::coded_bf16 {
namespace {

constexpr int kValuesPerLine = 32;

int exponent_of(uint16_t v) { return (v >> 7) & 0xff; }

}  // namespace

int base_for(const uint16_t* raw, int64_t kpairs) {
  int lo = 256, hi = 0;
  for (int64_t i = 0; i < kpairs * kValuesPerLine; ++i) {
    const int e = exponent_of(raw[i]);
    if (e == 0) continue;
    lo = std::min(lo, e);
    hi = std::max(hi, e);
  }
  if (hi == 0) return 1;  // zeros and subnormals only
  const int base = std::max(1, hi - (kWindow - 1));
  return lo >= base ? base : -1;
}

namespace {

// Where value i of k-pair kp sits among its pair's 64 positions.
int64_t position_of(int64_t kp, int i) { return 16 * (i / 8) + 8 * (kp % 2) + i % 8; }

int exponent_of_code(int code, int base) { return code == 0 ? 0 : base + code - 1; }

}  // namespace

void encode(const uint16_t* raw, int64_t kpairs, int base, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(panel_bytes(kpairs)));
  for (int c = 0; c < 64; ++c) {
    const int e = exponent_of_code(c % 32, base);
    out[c] = static_cast<uint8_t>(e >> 1);
    out[kLowTableOffset + c] = static_cast<uint8_t>((e & 1) << 7);
  }
  for (int64_t kp = 0; kp < kpairs; ++kp) {
    uint8_t* sign_mantissa = out + kHeaderBytes + kp / 2 * kRecordBytes;
    uint8_t* codes = sign_mantissa + kCodeOffset;
    for (int i = 0; i < kValuesPerLine; ++i) {
      const uint16_t v = raw[kp * kValuesPerLine + i];
      const int e = exponent_of(v);
      const int code = e == 0 ? 0 : e - base + 1;
      const int64_t p = position_of(kp, i);
      sign_mantissa[p] = static_cast<uint8_t>(((v >> 8) & 0x80) | (v & 0x7f));
      for (int b = 0; b < 5; ++b)
        codes[(5 * p + b) / 8] |= static_cast<uint8_t>(((code >> b) & 1) << ((5 * p + b) % 8));
    }
  }
}

uint16_t value(const uint8_t* panel, int64_t kp, int i) {
  const uint8_t* record = panel + kHeaderBytes + kp / 2 * kRecordBytes;
  const int64_t p = position_of(kp, i);
  const uint8_t sign_mantissa = record[p];
  const uint8_t* codes = record + kCodeOffset;
  int code = 0;
  for (int b = 0; b < 5; ++b) code |= ((codes[(5 * p + b) / 8] >> ((5 * p + b) % 8)) & 1) << b;
  const int e = panel[code] << 1 | panel[kLowTableOffset + code] >> 7;
  return static_cast<uint16_t>((sign_mantissa & 0x80) << 8 | e << 7 | (sign_mantissa & 0x7f));
}

}  // namespace pagellm::kernels::coded_bf16
