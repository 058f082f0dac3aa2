// `pagellm bench throughput|scheduler|tokenizer`: offline benchmarks, printed as text or one JSON object
// (`bench latency` lives in cmd_bench_latency.cpp).
#include <chrono>
#include <cstdio>
#include <random>

#include "chat/chat_template.h"
#include "cli/bench_corpus.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/random_prompt.h"
#include "engine/llm.h"
#include "engine/scheduler.h"
#include "model/forward_profile.h"
#include "model/llama_model.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct ThroughputOptions {
  std::string model;
  int64_t num_prompts = 64;
  int64_t input_len = 128;
  int64_t output_len = 128;
  uint64_t seed = 0;
  bool json = false;
  EngineFlags engine;
};

int run_throughput(const ThroughputOptions& o) {
  LLM llm(o.model, o.engine.to_config());
  const int64_t vocab = llm.engine().bundle().config().vocab_size;
  std::mt19937_64 rng(o.seed);
  std::vector<PromptInput> prompts;
  std::vector<SamplingParams> params;
  for (int64_t i = 0; i < o.num_prompts; ++i) {
    PromptInput p;
    p.token_ids = random_prompt(rng, o.input_len, vocab);
    prompts.push_back(std::move(p));
    SamplingParams sp;
    sp.temperature = 1.0;
    sp.ignore_eos = true;
    sp.max_tokens = o.output_len;
    sp.seed = o.seed + static_cast<uint64_t>(i);
    params.push_back(sp);
  }
  const auto start = Clock::now();
  std::vector<GenerateResult> results = llm.generate(prompts, params);
  const double elapsed = seconds_since(start);
  int64_t out_tokens = 0;
  for (const auto& r : results) out_tokens += static_cast<int64_t>(r.outputs[0].token_ids.size());
  const int64_t total_tokens = out_tokens + o.num_prompts * o.input_len;
  const EngineStats s = llm.engine().stats();
  const double sched_us = 1e6 * s.schedule_seconds / static_cast<double>(std::max<int64_t>(1, s.num_steps));
  const double step_ms = 1e3 * s.step_seconds / static_cast<double>(std::max<int64_t>(1, s.num_steps));
  Json j = {{"elapsed_s", elapsed},
            {"num_prompts", o.num_prompts},
            {"input_len", o.input_len},
            {"output_len", o.output_len},
            {"max_num_seqs", o.engine.max_num_seqs},
            {"requests_per_s", static_cast<double>(o.num_prompts) / elapsed},
            {"total_tokens_per_s", static_cast<double>(total_tokens) / elapsed},
            {"output_tokens_per_s", static_cast<double>(out_tokens) / elapsed},
            {"steps", s.num_steps},
            {"step_ms_mean", step_ms},
            {"schedule_us_per_step", sched_us},
            {"schedule_fraction", s.schedule_seconds / std::max(1e-12, s.step_seconds)},
            {"forward_fraction", s.forward_seconds / std::max(1e-12, s.step_seconds)},
            {"num_preemptions", s.num_preemptions}};
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n",
              j["requests_per_s"].get<double>(), j["total_tokens_per_s"].get<double>(),
              j["output_tokens_per_s"].get<double>());
  std::printf(
      "%lld prompts x (%lld in + %lld out) in %.2f s; %lld steps, %.2f ms/step; scheduler %.1f us/step "
      "(%.3f%% of step time), forward %.1f%%; %lld preemptions\n",
      static_cast<long long>(o.num_prompts), static_cast<long long>(o.input_len), static_cast<long long>(o.output_len),
      elapsed, static_cast<long long>(s.num_steps), step_ms, sched_us, 100 * j["schedule_fraction"].get<double>(),
      100 * j["forward_fraction"].get<double>(), static_cast<long long>(s.num_preemptions));
  // PAGELLM_PROFILE=1: where the forward passes of this mix of prefill and decode steps went.
  if (const std::optional<ForwardProfile> profile = llm.engine().bundle().model->profile())
    std::printf("%s", profile->report().c_str());
  return 0;
}

struct SchedulerBenchOptions {
  std::vector<int64_t> num_requests{16, 64, 256};
  int64_t input_len = 128;
  int64_t output_len = 128;
  int64_t block_size = 16;
  bool json = false;
};

// The scheduler and KV cache manager alone, with a model that costs nothing: what one step of
// bookkeeping costs as the number of running requests grows.
int run_scheduler_bench(const SchedulerBenchOptions& o) {
  Json rows = Json::array();
  for (int64_t n : o.num_requests) {
    const int64_t per_request_blocks = (o.input_len + o.output_len + o.block_size - 1) / o.block_size;
    KVCacheManager kv(n * per_request_blocks + 1, o.block_size, true);
    SchedulerConfig config{std::max<int64_t>(2048, n * (o.input_len + 1)), n, o.input_len + o.output_len, true,
                           SchedulingPolicy::kFcfs};
    Scheduler scheduler(config, kv);
    std::mt19937_64 rng(1);
    for (int64_t i = 0; i < n; ++i) {
      SamplingParams p;
      p.max_tokens = o.output_len;
      scheduler.add_request(std::make_shared<Request>(std::to_string(i), random_prompt(rng, o.input_len, 32000), p));
    }
    int64_t steps = 0, decode_steps = 0;
    double seconds = 0, decode_seconds = 0;
    while (scheduler.has_unfinished()) {
      const auto t = Clock::now();
      SchedulerOutput out = scheduler.schedule();
      scheduler.update_after_step(out);
      bool all_decode = true;
      for (const ScheduledRequest& s : out.scheduled) {
        all_decode &= s.num_new_tokens == 1;
        if (!s.samples()) continue;
        s.request->token_ids.push_back(7);
        if (s.request->num_output_tokens() >= o.output_len)
          scheduler.finish_request(s.request->id, RequestStatus::kFinishedLength);
      }
      const double dt = seconds_since(t);
      seconds += dt;
      ++steps;
      if (all_decode && static_cast<int64_t>(out.scheduled.size()) == n) decode_seconds += dt, ++decode_steps;
    }
    const double us = 1e6 * decode_seconds / static_cast<double>(std::max<int64_t>(1, decode_steps));
    rows.push_back({{"running", n},
                    {"steps", steps},
                    {"us_per_step_all", 1e6 * seconds / static_cast<double>(steps)},
                    {"us_per_decode_step", us},
                    {"us_per_request_per_decode_step", us / static_cast<double>(n)}});
    if (!o.json)
      std::printf("running %4lld: %.1f us per decode step (%.3f us per request), %lld steps\n",
                  static_cast<long long>(n), us, us / static_cast<double>(n), static_cast<long long>(steps));
  }
  if (o.json) std::printf("%s\n", rows.dump().c_str());
  return 0;
}

struct TokenizerBenchOptions {
  std::string model;
  std::optional<std::string> corpus;
  std::optional<std::string> write_corpus;
  std::vector<std::string> sources{"/usr/share/common-licenses", "src", "../shared/tokenizers"};
  double size_mb = 10;
  std::optional<std::string> chat_template;
  int64_t chat_messages = 20;
  bool json = false;
};

// A conversation of `n` messages: a system prompt, then user/assistant turns of a few sentences.
Json bench_conversation(int64_t n) {
  Json messages = Json::array();
  messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant. Answer briefly and precisely."}});
  for (int64_t i = 1; i < n; ++i)
    messages.push_back({{"role", i % 2 ? "user" : "assistant"},
                        {"content", fmt::format("Message {}: tell me more about paged attention, block tables and "
                                                "how prefix caching shares full blocks between requests.",
                                                i)}});
  return messages;
}

int run_tokenizer_bench(const TokenizerBenchOptions& o) {
  auto tokenizer = load_tokenizer(o.model);
  const std::string corpus =
      o.corpus ? read_text_file(*o.corpus) : build_mixed_corpus(o.sources, static_cast<size_t>(o.size_mb * 1e6));
  if (o.write_corpus) {
    std::FILE* f = std::fopen(o.write_corpus->c_str(), "wb");
    if (!f) fail(ErrorCode::kNotFound, "{}: cannot write the corpus", *o.write_corpus);
    std::fwrite(corpus.data(), 1, corpus.size(), f);
    std::fclose(f);
  }
  const std::vector<std::string_view> requests = split_requests(corpus);
  for (size_t i = 0; i < std::min<size_t>(50, requests.size()); ++i) tokenizer->encode(requests[i], false);
  int64_t tokens = 0;
  const auto start = Clock::now();
  for (std::string_view r : requests) tokens += static_cast<int64_t>(tokenizer->encode(r, false).size());
  const double seconds = seconds_since(start);
  Json j = {{"bytes", corpus.size()},
            {"requests", requests.size()},
            {"tokens", tokens},
            {"seconds", seconds},
            {"mb_per_s", static_cast<double>(corpus.size()) / 1e6 / seconds}};

  std::optional<std::string> source =
      o.chat_template ? std::optional(read_text_file(*o.chat_template)) : tokenizer->chat_template();
  if (source) {
    ChatTemplate tmpl(*source);
    ChatTemplateInputs in;
    in.messages = bench_conversation(o.chat_messages);
    in.add_generation_prompt = true;
    in.bos_token = tokenizer->bos_token();
    in.eos_token = tokenizer->eos_token();
    double best = 1e9;
    for (int round = 0; round < 5; ++round) {
      const auto t = Clock::now();
      for (int i = 0; i < 200; ++i) tmpl.render(in);
      best = std::min(best, seconds_since(t) / 200);
    }
    j["chat_template_messages"] = o.chat_messages;
    j["chat_template_us"] = best * 1e6;
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("pagellm tokenizer: %.2f MB in %zu requests, %lld tokens in %.2f s: %.2f MB/s (one thread)\n",
              static_cast<double>(corpus.size()) / 1e6, requests.size(), static_cast<long long>(tokens), seconds,
              j["mb_per_s"].get<double>());
  if (source)
    std::printf("chat template: %lld messages rendered in %.1f us\n", static_cast<long long>(o.chat_messages),
                j["chat_template_us"].get<double>());
  return 0;
}

}  // namespace

CommandFn register_bench(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks: throughput, latency, scheduler, tokenizer");
  bench->require_subcommand(1);
  const CommandFn latency = register_bench_latency(*bench);

  auto t = std::make_shared<ThroughputOptions>();
  CLI::App* tp =
      bench->add_subcommand("throughput", "Offline throughput on random prompts (vLLM benchmark_throughput)");
  tp->add_option("--model,-m", t->model, "HF model directory or .gguf file")->required();
  tp->add_option("--num-prompts", t->num_prompts, "Number of requests")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  tp->add_option("--input-len", t->input_len, "Prompt tokens per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  tp->add_option("--output-len", t->output_len, "Generated tokens per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  tp->add_option("--seed", t->seed, "Seed for prompts and sampling")->capture_default_str();
  tp->add_flag("--json", t->json, "Print one JSON object");
  add_engine_flags(*tp, t->engine);

  auto s = std::make_shared<SchedulerBenchOptions>();
  CLI::App* sc =
      bench->add_subcommand("scheduler", "Scheduler + KV cache manager cost per step with a free dummy model");
  sc->add_option("--num-requests", s->num_requests, "Running requests to measure (several allowed)")
      ->capture_default_str()
      ->delimiter(',');
  sc->add_option("--input-len", s->input_len, "Prompt tokens per request")->capture_default_str();
  sc->add_option("--output-len", s->output_len, "Generated tokens per request")->capture_default_str();
  sc->add_option("--block-size", s->block_size, "KV block size")->capture_default_str();
  sc->add_flag("--json", s->json, "Print JSON");

  auto k = std::make_shared<TokenizerBenchOptions>();
  CLI::App* tk =
      bench->add_subcommand("tokenizer", "Single-thread encode MB/s on a mixed corpus, and chat template render time");
  tk->add_option("--model,-m", k->model, "HF model directory, tokenizer.json or .gguf")->required();
  tk->add_option("--corpus", k->corpus, "Text file to encode (default: a built mixed corpus)");
  tk->add_option("--size-mb", k->size_mb, "Size of the built corpus in MB")->capture_default_str();
  tk->add_option("--sources", k->sources, "Files or directories the corpus is built from")
      ->capture_default_str()
      ->delimiter(',');
  tk->add_option("--write-corpus", k->write_corpus, "Also write the corpus here (for bench/tokenizer_hf.mjs)");
  tk->add_option("--chat-template", k->chat_template, "Template to time (default: the model's, if any)");
  tk->add_option("--chat-messages", k->chat_messages, "Messages in the timed conversation")->capture_default_str();
  tk->add_flag("--json", k->json, "Print one JSON object");

  return [=] {
    if (tk->parsed()) return run_tokenizer_bench(*k);
    if (tp->parsed()) return run_throughput(*t);
    if (bench->got_subcommand("latency")) return latency();
    if (sc->parsed()) return run_scheduler_bench(*s);
    return 2;
  };
}

}  // namespace pagellm::cli
