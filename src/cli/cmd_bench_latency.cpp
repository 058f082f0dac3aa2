// `pagellm bench latency`: vLLM's `vllm bench latency` (one batch of B random prompts, timed end to
// end over several iterations) with the prefill / decode split that CPU tuning needs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/random_prompt.h"
#include "engine/llm.h"
#include "kernels/cpu/thread_pool.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct LatencyOptions {
  std::string model;
  int64_t input_len = 32;  // vLLM's defaults
  int64_t output_len = 128;
  int64_t batch_size = 8;
  int64_t num_iters_warmup = 10;
  int64_t num_iters = 30;
  double temperature = 1.0;
  uint64_t seed = 0;
  std::optional<std::string> output_json;
  EngineFlags engine;
};

// One timed generate() of the whole batch. The prefill phase ends at the step after which every
// request has its first token (with chunked prefill that may include some decode tokens of the
// requests that finished their prompt first); every later step is a decode step.
struct Iteration {
  double latency_s = 0;
  double prefill_s = 0;
  double decode_s = 0;
  int64_t prefill_steps = 0;
  int64_t decode_steps = 0;
  int64_t prompt_tokens = 0;  // computed by the engine (prefix-cache hits excluded)
  int64_t output_tokens = 0;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// numpy.percentile's default (linear interpolation between closest ranks), as vLLM reports.
double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double rank = q / 100 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double median(std::vector<double> v) { return percentile(std::move(v), 50); }

Iteration run_once(LLM& llm, const LatencyOptions& o, std::mt19937_64& rng) {
  // Fresh prompts every iteration: with the same ones, iterations after the first would be served
  // from the prefix cache and time no prefill.
  const int64_t vocab = llm.engine().bundle().config().vocab_size;
  std::vector<PromptInput> prompts(static_cast<size_t>(o.batch_size));
  std::vector<SamplingParams> params(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    prompts[i].token_ids = random_prompt(rng, o.input_len, vocab);
    params[i].temperature = o.temperature;
    params[i].ignore_eos = true;
    params[i].max_tokens = o.output_len;
    params[i].seed = rng();
  }
  Iteration it;
  const int64_t prompt_tokens_before = llm.engine().stats().prompt_tokens;
  int64_t steps = 0;
  bool prefilled = false;
  const Clock::time_point start = Clock::now();
  Clock::time_point prefill_end = start;
  const std::vector<GenerateResult> results = llm.generate(prompts, params, [&](const GenerateProgress& p) {
    ++steps;
    if (!prefilled && p.generated_tokens >= o.batch_size) {
      prefilled = true;
      prefill_end = Clock::now();
      it.prefill_steps = steps;
    }
  });
  const Clock::time_point end = Clock::now();
  it.latency_s = seconds_between(start, end);
  it.prefill_s = seconds_between(start, prefill_end);
  it.decode_s = seconds_between(prefill_end, end);
  it.decode_steps = steps - it.prefill_steps;
  it.prompt_tokens = llm.engine().stats().prompt_tokens - prompt_tokens_before;
  for (const GenerateResult& r : results) it.output_tokens += static_cast<int64_t>(r.outputs[0].token_ids.size());
  return it;
}

int run_latency(const LatencyOptions& o) {
  LLM llm(o.model, o.engine.to_config());
  // A request stopped by the context length would make the decode figures count fewer tokens.
  const int64_t max_model_len = llm.engine().config().scheduler.max_model_len;
  if (o.input_len + o.output_len > max_model_len)
    fail(ErrorCode::kInvalidArgument, "--input-len {} + --output-len {} exceed the maximum context length {}",
         o.input_len, o.output_len, max_model_len);
  std::mt19937_64 rng(o.seed);
  for (int64_t i = 0; i < o.num_iters_warmup; ++i) run_once(llm, o, rng);
  std::vector<Iteration> iters;
  for (int64_t i = 0; i < o.num_iters; ++i) iters.push_back(run_once(llm, o, rng));

  // Rates are medians over iterations: on a shared machine one disturbed iteration should not move them.
  std::vector<double> latencies, prefill_rates, decode_rates, step_ms;
  Json per_iter = Json::array();
  for (const Iteration& it : iters) {
    latencies.push_back(it.latency_s);
    prefill_rates.push_back(static_cast<double>(o.batch_size * o.input_len) / it.prefill_s);
    if (it.decode_steps > 0) {
      decode_rates.push_back(static_cast<double>(it.output_tokens - o.batch_size) / it.decode_s);
      step_ms.push_back(1e3 * it.decode_s / static_cast<double>(it.decode_steps));
    }
    per_iter.push_back({{"latency_s", it.latency_s},
                        {"prefill_s", it.prefill_s},
                        {"decode_s", it.decode_s},
                        {"prefill_steps", it.prefill_steps},
                        {"decode_steps", it.decode_steps},
                        {"prompt_tokens", it.prompt_tokens},
                        {"output_tokens", it.output_tokens}});
  }
  double avg = 0;
  for (double l : latencies) avg += l;
  avg /= static_cast<double>(latencies.size());
  Json percentiles = Json::object();
  for (int q : {10, 25, 50, 75, 90, 99}) percentiles[std::to_string(q)] = percentile(latencies, q);
  const bool has_decode = !decode_rates.empty();
  Json j = {{"model", o.model},
            {"batch_size", o.batch_size},
            {"input_len", o.input_len},
            {"output_len", o.output_len},
            {"num_iters", o.num_iters},
            {"num_iters_warmup", o.num_iters_warmup},
            {"threads", kernels::ThreadPool::instance().num_threads()},
            {"avg_latency", avg},
            {"latencies", latencies},
            {"percentiles", percentiles},
            {"prefill_tokens_per_s", median(prefill_rates)},
            {"decode_tokens_per_s", has_decode ? Json(median(decode_rates)) : Json(nullptr)},
            {"decode_step_ms", has_decode ? Json(median(step_ms)) : Json(nullptr)},
            {"iterations", per_iter}};
  if (o.output_json) {
    std::ofstream out(*o.output_json);
    out << j.dump(2) << "\n";
    if (!out) fail(ErrorCode::kNotFound, "{}: cannot write the results", *o.output_json);
  }
  std::printf("%s: batch %lld x (%lld in + %lld out), %lld iterations after %lld warm-up, %d threads\n",
              std::filesystem::path(o.model).filename().c_str(), static_cast<long long>(o.batch_size),
              static_cast<long long>(o.input_len), static_cast<long long>(o.output_len),
              static_cast<long long>(o.num_iters), static_cast<long long>(o.num_iters_warmup), j["threads"].get<int>());
  std::printf("Prefill: %.1f tokens/s (%lld prompt tokens, median %.3f s)\n", j["prefill_tokens_per_s"].get<double>(),
              static_cast<long long>(o.batch_size * o.input_len), median([&] {
                std::vector<double> v;
                for (const Iteration& it : iters) v.push_back(it.prefill_s);
                return v;
              }()));
  if (has_decode)
    std::printf("Decode: %.1f tokens/s, %.2f ms per step (%lld tokens per step)\n",
                j["decode_tokens_per_s"].get<double>(), j["decode_step_ms"].get<double>(),
                static_cast<long long>(o.batch_size));
  std::printf("Avg latency: %.4f seconds\n", avg);
  for (const auto& [q, v] : percentiles.items())
    std::printf("%s%% percentile latency: %.4f seconds\n", q.c_str(), v.get<double>());
  return 0;
}

}  // namespace

CommandFn register_bench_latency(CLI::App& bench) {
  auto o = std::make_shared<LatencyOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "latency", "Latency of one batch of random prompts, with prefill and decode rates (vLLM bench latency)");
  cmd->add_option("--model,-m", o->model, "HF model directory or .gguf file")->required();
  cmd->add_option("--input-len", o->input_len, "Prompt tokens per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--output-len", o->output_len, "Generated tokens per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", o->batch_size, "Requests in the batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--num-iters-warmup", o->num_iters_warmup, "Untimed iterations first")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--num-iters", o->num_iters, "Timed iterations")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (0: greedy)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "Seed for prompts and sampling")->capture_default_str();
  cmd->add_option("--output-json", o->output_json, "Also write the results to this JSON file");
  add_engine_flags(*cmd, o->engine);
  return [o] { return run_latency(*o); };
}

}  // namespace pagellm::cli
