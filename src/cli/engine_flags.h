#pragma once
// The engine flags shared by generate, bench and serve, spelled as vLLM spells them.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/engine_config.h"

namespace pagellm::cli {

struct EngineFlags {
  int64_t max_num_batched_tokens = 2048;                 // a command may lower this default before add_engine_flags
  CLI::Option* max_num_batched_tokens_option = nullptr;  // set by add_engine_flags: was it given?
  int64_t max_num_seqs = 128;
  int64_t max_model_len = 0;
  int64_t block_size = 16;
  std::string kv_cache_memory;  // empty: default
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  std::string scheduling_policy = "fcfs";
  std::string dtype = "auto";
  std::string weight_coding = "auto";
  std::string kv_cache_dtype = "auto";
  int threads = 0;  // 0: one per CPU this process may use (or PAGELLM_NUM_THREADS)

  // Validates and converts; throws Error(kInvalidArgument) naming the flag. Also sizes the kernels'
  // process-wide thread pool (--threads; it is not per engine, and starts on first use), so a bad
  // thread count, flag or PAGELLM_NUM_THREADS, is reported before anything loads.
  EngineConfig to_config() const;
};

void add_engine_flags(CLI::App& cmd, EngineFlags& flags);

}  // namespace pagellm::cli
