#pragma once
// paged_attention_batch (paged_attention.h) for CPUs with AVX2 and FMA but no AVX-512 BF16.
#include <cstdint>

#include "kernels/cpu/paged_attention.h"

namespace pagellm::kernels::avx2 {

// Work items are (sequence, run of query tokens, KV head), taken from a shared counter by the
// pool's threads; a run holds enough tokens that its (token, head) rows fill passes of 6 (one token
// in decode). The rows score every key of their context straight from the cache's K layout, 8 or
// 16 keys per load and one FMA chain over head_dim each (a block's last keys past a multiple of 8
// one at a time); then a softmax over each row's own keys (the maximum first, then e^(s - max)
// summed in key order) and p_j v_j summed key by key. So a token's result depends only on its
// position and the cache contents, never on the batch, the chunking or the threads.
void paged_attention_batch(const AttentionShape& shape, const float* q, const AttentionSequence* seqs, int64_t num_seqs,
                           const KVLayerView& kv, float* out);

}  // namespace pagellm::kernels::avx2
