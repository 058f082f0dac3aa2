#pragma once
// The engine's knobs, named after vLLM's flags (see docs/cli.md).
#include <cstdint>

#include "engine/scheduler_config.h"
#include "model/compute_dtype.h"
#include "model/kv_cache_dtype.h"
#include "model/weight_coding.h"

namespace pagellm {

struct EngineConfig {
  SchedulerConfig scheduler;                 // max_model_len 0: the model's max_position_embeddings
  int64_t block_size = 16;                   // --block-size
  int64_t kv_cache_memory = 0;               // --kv-cache-memory bytes; 0: default_kv_cache_memory()
  int64_t num_kv_blocks = 0;                 // overrides kv_cache_memory when > 0 (tests)
  bool enable_prefix_caching = true;         // --enable-prefix-caching / --no-enable-prefix-caching
  ComputeDType dtype = ComputeDType::kAuto;  // --dtype: used when the engine loads the model itself
  int64_t max_logprobs = 20;                 // --max-logprobs: the most logprobs / prompt_logprobs a request may ask
  WeightCoding weight_coding = WeightCoding::kAuto;        // --weight-coding
  KVCacheDType kv_cache_dtype = KVCacheDType::kAuto;       // --kv-cache-dtype
  kernels::KVDType kv_dtype = kernels::KVDType::kFloat32;  // what kv_cache_dtype resolved to (resolve_engine_config)
};

// Whether BF16 weights are stored coded (kernels/cpu/coded_bf16.h): 19 % fewer bytes per decode
// step, but every batch of more than 4 rows decodes them first, which costs 16-row batches 18-23 %.
// kAuto codes them when no decode step can batch more than 4 sequences (max_num_seqs <= 4).
bool codes_weights(const EngineConfig& config);

// 40% of the memory available now, at most 4 GiB (vLLM's CPU default), at least 64 MiB.
int64_t default_kv_cache_memory();

}  // namespace pagellm
