#pragma once
// llama.cpp's low-bit weight formats: Q4_0, Q4_1, Q5_0, Q5_1, the K-quants Q2_K to Q6_K and IQ4_NL / IQ4_XS
// (what the Q2_K ... Q6_K, _K_S / _K_M / _K_L and IQ4 GGUFs hold). The kernels compute on Q8_0, so such
// tensors are decoded to floats and re-quantized to Q8_0 at load (llama.cpp's quantize_row_q8_0 rounding):
// about twice the bytes of Q4, a quarter of F32, and per value an error of at most half a Q8_0 step, about
// 1/17 of a Q4 step.
#include <cstdint>
#include <optional>

#include "tensor/dtype.h"

namespace pagellm {

// Block geometry of a GGUF (ggml) tensor type this file decodes.
struct GgmlQuantType {
  uint32_t ggml_type;
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
};

// nullopt for any type not decoded here (F32, F16, BF16 and Q8_0 load as they are).
std::optional<GgmlQuantType> ggml_quant_type(uint32_t ggml_type);

// Decodes `n` values (a multiple of the type's block_elems) to floats, as llama.cpp's dequantize_row_*.
void dequantize_ggml(uint32_t ggml_type, const uint8_t* src, float* dst, int64_t n);

// llama.cpp's quantize_row_q8_0: per 32 values d = max|x| / 127 (stored as f16), q = round(x / d).
void quantize_q8_0(const float* src, BlockQ8_0* dst, int64_t n);

// Converts a whole tensor of `n` values from `ggml_type` to Q8_0 blocks, one row block at a time.
void convert_ggml_to_q8_0(uint32_t ggml_type, const uint8_t* src, BlockQ8_0* dst, int64_t n);

}  // namespace pagellm
