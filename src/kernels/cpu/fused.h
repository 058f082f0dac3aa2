#pragma once
// Fast elementwise kernels for the forward pass (AVX-512 with a portable fallback), each
// tested against the plain reference in norm.h / rope.h / activation.h. All work row by row,
// so a row's result never depends on the batch.
#include <cstdint>

namespace pagellm::kernels {

// out = silu(gate) * up with a vector exp (~1 ulp); out may alias gate.
void silu_mul_fast(const float* gate, const float* up, int64_t n, float* out);

// RMSNorm with the sum of squares accumulated in double (8 lanes, fixed order); out may alias x.
void rms_norm_fast(const float* x, const float* weight, int64_t rows, int64_t n, double eps, float* out);

// x += delta, then out = rms_norm(x): the residual add fused with the next layer's norm.
void add_rms_norm(float* x, const float* delta, const float* weight, int64_t rows, int64_t n, double eps, float* out);

// The same two norms storing their rows rounded to bf16 pairs (kernels::Bf16Rows, ld pairs a row)
// for a projection that computes in bf16: bit for bit round_to_bf16_pairs of the float rows, each
// row rounded while it is in L1 instead of a separate pass over all rows in the projection.
void rms_norm_fast_bf16(const float* x, const float* weight, int64_t rows, int64_t n, double eps, uint32_t* out,
                        int64_t ld);
void add_rms_norm_bf16(float* x, const float* delta, const float* weight, int64_t rows, int64_t n, double eps,
                       uint32_t* out, int64_t ld);

// cos/sin of position * inv_freq[i] for i < half (angles in double, as rope_rotate_half does).
void rope_cos_sin(int64_t position, const double* inv_freq, int64_t half, float* cos_out, float* sin_out);

// rope_rotate_half with precomputed cos/sin (bit-identical to it).
void rope_rotate_half_cs(float* x, int64_t num_heads, int64_t head_dim, const float* cos_t, const float* sin_t);

}  // namespace pagellm::kernels
