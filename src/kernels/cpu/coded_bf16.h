#pragma once
// Lossless 13-bit coding of a bf16 weight panel, so a bandwidth-bound decode step streams 19 %
// fewer bytes (docs/perf/kernels.md, session 7).
//
// A bf16 value is sign, 8 exponent bits and 7 mantissa bits. A weight matrix's exponents span few
// binades, so a panel stores each value's sign and mantissa as one byte and its exponent as a
// 5-bit code: 0 for the exponent field 0 (zeros and subnormals, kept exactly), c = 1..31 for the
// exponent base + c - 1, where `base` is the panel's own (its largest exponent - 30). A panel
// with a nonzero value more than 30 binades below its largest stays raw bf16 (the caller keeps it
// elsewhere). Two k-pairs (64 values) decode with 8 AVX-512 VBMI operations: spread the packed
// codes to one qword lane per 8 (vpermb), cut them out (vpmultishiftqb), look up the two bytes a
// code gives (vpermb on the panel's tables), merge sign and mantissa (vpternlogd) and interleave
// the byte pairs into bf16 words (vpunpck[lh]bw).
//
// Layout of a coded panel (16 outputs x kpairs k-pairs, kpairs even; value i of a
// k-pair = 2 * output + (k % 2), as in the raw layout of packed_matmul.h):
//   header  128 B: bytes [0, 64) the high-byte table, [64, 128) the low-byte table: entry c
//           (and c + 32, as vpermb reads 6 index bits) = E >> 1 and (E & 1) << 7 for the exponent
//           field E of code c
//   pairs   kpairs / 2 records of 104 B, one per pair of k-pairs (2q, 2q + 1) in order, each of 64
//           positions p = 16 L + 8 h + w for value 8 L + w of k-pair 2q + h (the order
//           vpunpck[lh]bw undoes), so a panel is one sequential stream:
//     [ 0,  64)  sign << 7 | mantissa, one byte per position
//     [64, 104)  codes, position p's code in bits [5p, 5p + 5)
// The kernels read 64 B at a pair's codes, so a coded buffer needs kReadSlack bytes after its end.
#include <cstdint>

namespace pagellm::kernels::coded_bf16 {

constexpr int64_t kHeaderBytes = 128;
constexpr int64_t kLowTableOffset = 64;
constexpr int64_t kRecordBytes = 104;  // two k-pairs
constexpr int64_t kPairBytes = kRecordBytes / 2;
constexpr int64_t kCodeOffset = 64;
constexpr int64_t kCodeBytes = 40;
constexpr int64_t kReadSlack = 64 - kCodeBytes;
constexpr int kWindow = 31;  // exponents one code covers, besides the exponent field 0

constexpr int64_t panel_bytes(int64_t kpairs) { return kHeaderBytes + kpairs / 2 * kRecordBytes; }

// The panel's base exponent field, or -1 when its values do not fit the window.
// raw: [kpairs][32] bf16 bit patterns.
int base_for(const uint16_t* raw, int64_t kpairs);
// Codes a raw panel whose values fit (base from base_for) into `out` (panel_bytes(kpairs) bytes).
void encode(const uint16_t* raw, int64_t kpairs, int base, uint8_t* out);
// The bit pattern of value i (0..31) of k-pair kp.
uint16_t value(const uint8_t* panel, int64_t kp, int i);

}  // namespace pagellm::kernels::coded_bf16
