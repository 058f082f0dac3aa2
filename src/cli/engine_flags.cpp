#include "cli/engine_flags.h"

#include "kernels/cpu/cpu_count.h"
#include "kernels/cpu/thread_pool.h"
#include "util/byte_size.h"
#include "util/error.h"

namespace pagellm::cli {

void add_engine_flags(CLI::App& cmd, EngineFlags& f) {
  const char* group = "Engine";
  f.max_num_batched_tokens_option =
      cmd.add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
                     "Token budget of one engine step (by default at least --max-model-len without chunked prefill)")
          ->capture_default_str()
          ->group(group);
  cmd.add_option("--max-num-seqs", f.max_num_seqs,
                 "Sequences running at once (each of a request's n / best_of / beam width counts)")
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--max-model-len", f.max_model_len,
                 "Longest prompt + output in tokens (default: the model's max_position_embeddings)")
      ->group(group);
  cmd.add_option("--block-size", f.block_size, "Tokens per KV cache block")->capture_default_str()->group(group);
  cmd.add_option("--kv-cache-memory", f.kv_cache_memory,
                 "KV cache size, e.g. 4GiB or 512MiB (default: 40% of available memory, at most 4 GiB)")
      ->group(group);
  cmd.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f.enable_prefix_caching,
               "Share full KV blocks between requests with the same prefix (default on)")
      ->group(group);
  cmd.add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", f.enable_chunked_prefill,
               "Split long prompts across steps within the token budget (default on)")
      ->group(group);
  cmd.add_option("--scheduling-policy", f.scheduling_policy,
                 "fcfs (arrival order) or priority (request priority, lower first)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fcfs", "priority"}))
      ->group(group);
  cmd.add_option(
         "--dtype", f.dtype,
         "Compute precision of the projections: auto (bfloat16 for BF16 weights on a CPU with AVX512-BF16, else "
         "float32), bfloat16 (activations rounded to bf16), float32 (most exact) or int8 (Q8_0 weights times "
         "activations quantized to int8, as llama.cpp computes them; other weights as float32)")
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--weight-coding", f.weight_coding,
                 "Store BF16 weights coded, 13 bits a value without loss (19 % fewer bytes per decode step, slower "
                 "batches): on, off, or auto (on when --max-num-seqs <= 4)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->group(group);
  cmd.add_option("--kv-cache-dtype", f.kv_cache_dtype,
                 "Element type of the KV cache: auto (bfloat16 when the projections compute in bfloat16, else "
                 "float32), bfloat16 (half the memory and bytes read per token) or float32")
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--threads", f.threads,
                 "Threads of the CPU kernels (default: one per CPU this process may use, after taskset, cpuset "
                 "and CPU quota; or PAGELLM_NUM_THREADS)")
      ->check(CLI::Range(1, kernels::kMaxThreads))
      ->group(group);
}

EngineConfig EngineFlags::to_config() const {
  EngineConfig c;
  c.scheduler.max_num_batched_tokens = max_num_batched_tokens;
  c.scheduler.batched_tokens_from_default =
      max_num_batched_tokens_option == nullptr || max_num_batched_tokens_option->count() == 0;
  c.scheduler.max_num_seqs = max_num_seqs;
  c.scheduler.max_model_len = max_model_len;
  if (max_model_len < 0) fail(ErrorCode::kInvalidArgument, "--max-model-len must be positive, got {}", max_model_len);
  c.scheduler.enable_chunked_prefill = enable_chunked_prefill;
  c.scheduler.policy = scheduling_policy == "priority" ? SchedulingPolicy::kPriority : SchedulingPolicy::kFcfs;
  c.block_size = block_size;
  if (!kv_cache_memory.empty()) c.kv_cache_memory = parse_byte_size(kv_cache_memory, "--kv-cache-memory");
  c.enable_prefix_caching = enable_prefix_caching;
  c.dtype = parse_compute_dtype(dtype);
  c.weight_coding = parse_weight_coding(weight_coding);
  c.kv_cache_dtype = parse_kv_cache_dtype(kv_cache_dtype);
  if (threads != 0) kernels::ThreadPool::set_process_threads(threads);
  kernels::ThreadPool::process_threads();  // a bad PAGELLM_NUM_THREADS, before anything loads
  return c;
}

}  // namespace pagellm::cli
