// `pagellm bench latency`: the real binary on the demo model; the figures it prints must agree with
// its own per-iteration record and with the shape it was asked for.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "run_command.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::pagellm_bin;
using test::run_command;
using test::shell_quote;

const std::string kModel = test::source_dir() + "/models/stories260K/stories260K.gguf";

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("pagellm_" + std::to_string(::getpid()) + "_" + name)).string();
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct BenchRun {
  test::CommandResult result;
  Json json;
};

BenchRun bench(int batch, int in, int out, int iters, const std::string& extra = "") {
  const std::string path = temp_path("latency.json");
  BenchRun r;
  r.result = run_command(pagellm_bin() + " bench latency -m " + shell_quote(kModel) + " --batch-size " +
                         std::to_string(batch) + " --input-len " + std::to_string(in) + " --output-len " +
                         std::to_string(out) + " --num-iters " + std::to_string(iters) +
                         " --num-iters-warmup 1 --output-json " + shell_quote(path) + extra);
  if (r.result.exit_code == 0) r.json = read_json_file(path);
  std::filesystem::remove(path);
  return r;
}

// Checks what holds for any run: every iteration computed exactly batch x input prompt tokens and
// produced batch x output tokens, its phases add up to its latency, and the summary figures are
// the medians / percentiles of the iterations.
void check_consistent(const Json& j, int batch, int in, int out, int iters) {
  EXPECT_EQ(j["batch_size"], batch);
  EXPECT_EQ(j["input_len"], in);
  EXPECT_EQ(j["output_len"], out);
  EXPECT_GE(j["threads"].get<int>(), 1);
  ASSERT_EQ(j["iterations"].size(), static_cast<size_t>(iters));
  ASSERT_EQ(j["latencies"].size(), static_cast<size_t>(iters));
  std::vector<double> prefill_rates, decode_rates, step_ms;
  double sum = 0;
  for (size_t i = 0; i < j["iterations"].size(); ++i) {
    const Json& it = j["iterations"][i];
    EXPECT_EQ(it["prompt_tokens"], batch * in) << "no prefix-cache hits between iterations";
    EXPECT_EQ(it["output_tokens"], batch * out) << "ignore_eos: every request runs to --output-len";
    EXPECT_GE(it["prefill_steps"].get<int>(), 1);
    // Once every request has its first token, each step gives each request one more.
    EXPECT_EQ(it["decode_steps"], out - 1);
    const double latency = it["latency_s"].get<double>();
    EXPECT_GT(latency, 0);
    EXPECT_EQ(j["latencies"][i].get<double>(), latency);
    EXPECT_NEAR(it["prefill_s"].get<double>() + it["decode_s"].get<double>(), latency, 1e-9);
    sum += latency;
    prefill_rates.push_back(batch * in / it["prefill_s"].get<double>());
    // Every request has its first token when the prefill phase ends; the ones that finished their
    // prompt earlier may have more.
    const int prefill_out = it["prefill_output_tokens"].get<int>();
    EXPECT_GE(prefill_out, batch);
    EXPECT_LE(prefill_out, batch * out);
    if (out > 1) {
      decode_rates.push_back((batch * out - prefill_out) / it["decode_s"].get<double>());
      step_ms.push_back(1e3 * it["decode_s"].get<double>() / (out - 1));
    }
  }
  EXPECT_NEAR(j["avg_latency"].get<double>(), sum / iters, 1e-12);
  EXPECT_DOUBLE_EQ(j["prefill_tokens_per_s"].get<double>(), median_of(prefill_rates));
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0);
  if (out > 1) {
    EXPECT_DOUBLE_EQ(j["decode_tokens_per_s"].get<double>(), median_of(decode_rates));
    EXPECT_DOUBLE_EQ(j["decode_step_ms"].get<double>(), median_of(step_ms));
    EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0);
  } else {
    EXPECT_TRUE(j["decode_tokens_per_s"].is_null());
  }
  const std::vector<double> lat = j["latencies"].get<std::vector<double>>();
  const double lo = *std::min_element(lat.begin(), lat.end()), hi = *std::max_element(lat.begin(), lat.end());
  double previous = lo;
  for (const char* q : {"10", "25", "50", "75", "90", "99"}) {
    const double v = j["percentiles"][q].get<double>();
    EXPECT_GE(v, previous) << q;
    EXPECT_LE(v, hi) << q;
    previous = v;
  }
  EXPECT_DOUBLE_EQ(j["percentiles"]["50"].get<double>(), median_of(lat));
}

TEST(BenchLatency, FiguresAgreeWithTheRequestedShape) {
  BenchRun r = bench(4, 16, 8, 3);
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  check_consistent(r.json, 4, 16, 8, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.json["iterations"][i]["prefill_steps"], 1) << "64 tokens fit one step";
  // The text report says the same as the JSON.
  const std::string& text = r.result.out;
  EXPECT_NE(text.find("batch 4 x (16 in + 8 out), 3 iterations"), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("Prefill: {:.1f} tokens/s", r.json["prefill_tokens_per_s"].get<double>())),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(fmt::format("Decode: {:.1f} tokens/s, {:.2f} ms per step",
                                  r.json["decode_tokens_per_s"].get<double>(), r.json["decode_step_ms"].get<double>())),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(fmt::format("Avg latency: {:.4f} seconds", r.json["avg_latency"].get<double>())),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("99% percentile latency:"), std::string::npos) << text;
}

TEST(BenchLatency, ChunkedPrefillSpansStepsAndTokensStillAddUp) {
  // 4 x 16 prompt tokens through a 24-token budget: the prefill takes several steps.
  BenchRun r = bench(4, 16, 6, 2, " --max-num-batched-tokens 24 --max-model-len 64");
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  check_consistent(r.json, 4, 16, 6, 2);
  for (int i = 0; i < 2; ++i) EXPECT_GT(r.json["iterations"][i]["prefill_steps"].get<int>(), 1);
}

TEST(BenchLatency, PrefillEndsWithTheLastPromptNotWithBatchSizeTokens) {
  // Two 48-token prompts through a 16-token budget: the first prompt is done after 3 steps and its
  // request decodes while the second prompt still takes 4 more; 2 tokens exist long before the
  // second request has its first. The decode phase must still be the last request's 5 steps.
  BenchRun r = bench(2, 48, 6, 2, " --max-num-batched-tokens 16 --max-model-len 64");
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  check_consistent(r.json, 2, 48, 6, 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_GE(r.json["iterations"][i]["prefill_steps"].get<int>(), 6) << "96 prompt tokens at <= 16 per step";
    EXPECT_GT(r.json["iterations"][i]["prefill_output_tokens"].get<int>(), 2) << "the first request decoded meanwhile";
  }
}

// PAGELLM_PROFILE=1: a line per kind of step, counting exactly the timed steps, whose parts add up
// to the step time (each printed to 0.001 ms).
TEST(BenchLatency, ProfilePrintsTheTimedStepsPartsThatAddUp) {
  const std::string cmd = " bench latency -m " + shell_quote(kModel) +
                          " --batch-size 2 --input-len 8 --output-len 5 --num-iters 2 --num-iters-warmup 1";
  auto plain = run_command(pagellm_bin() + cmd);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("steps:"), std::string::npos) << "off without PAGELLM_PROFILE=1";
  auto r = run_command("PAGELLM_PROFILE=1 " + pagellm_bin() + cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* kind : {"decode", "prefill/mixed"}) {
    const size_t at = r.out.find(std::string("\n") + kind + " steps: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
    long steps = 0;
    double tokens = 0, step_ms = 0;
    ASSERT_EQ(std::sscanf(line.substr(line.find("steps: ") + 7).c_str(), "%ld (%lf tokens each), per step %lf ms",
                          &steps, &tokens, &step_ms),
              3)
        << line;
    if (std::string(kind) == "decode") {
      EXPECT_EQ(steps, 2 * (5 - 1)) << "2 timed iterations of 4 decode steps; warm-up excluded";
      EXPECT_DOUBLE_EQ(tokens, 2.0);
    } else {
      EXPECT_EQ(steps, 2) << "one 16-token prefill step per timed iteration";
      EXPECT_DOUBLE_EQ(tokens, 16.0);
    }
    double sum = 0;
    int parts = 0;
    for (size_t p = line.find(" ms (", line.find("ms:") + 3); p != std::string::npos; p = line.find(" ms (", p + 1)) {
      const size_t start = line.rfind(' ', p - 1) + 1;
      sum += std::stod(line.substr(start, p - start));
      ++parts;
    }
    EXPECT_EQ(parts, 10) << line;
    EXPECT_NEAR(sum, step_ms, 0.006) << line;
  }
}

// --weight-read: one plain read of the weights after every timed decode step, reported against the
// step; the reads are kept out of the step figures, which still add up.
TEST(BenchLatency, WeightReadTimesOneReadPerDecodeStepOutsideTheSteps) {
  BenchRun r = bench(2, 8, 5, 3, " --weight-read");
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  check_consistent(r.json, 2, 8, 5, 3);
  ASSERT_TRUE(r.json.contains("weight_read")) << r.json.dump();
  const Json& w = r.json["weight_read"];
  EXPECT_GT(w["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(w["passes"].get<int>(), 3 * (5 - 1)) << "one read per timed decode step, warm-up excluded";
  const double read_ms = w["median_ms"].get<double>();
  EXPECT_GT(read_ms, 0);
  EXPECT_NEAR(w["gb_per_s"].get<double>(), static_cast<double>(w["bytes"].get<int64_t>()) / read_ms / 1e6, 1e-6);
  EXPECT_NEAR(w["decode_step_over_read"].get<double>(), r.json["decode_step_ms"].get<double>() / read_ms, 1e-9);
  EXPECT_NE(r.result.out.find("Weight read: "), std::string::npos) << r.result.out;
  BenchRun plain = bench(2, 8, 5, 1);
  ASSERT_EQ(plain.result.exit_code, 0) << plain.result.err;
  EXPECT_FALSE(plain.json.contains("weight_read")) << "off unless asked for";
  EXPECT_EQ(plain.result.out.find("Weight read"), std::string::npos);
}

TEST(BenchLatency, OneOutputTokenHasNoDecodePhase) {
  BenchRun r = bench(2, 8, 1, 2);
  ASSERT_EQ(r.result.exit_code, 0) << r.result.err;
  check_consistent(r.json, 2, 8, 1, 2);
  EXPECT_EQ(r.result.out.find("Decode:"), std::string::npos) << r.result.out;
}

// Whether /proc/cpuinfo lists every flag in `all` and none in `none`.
bool cpu_flags(std::initializer_list<const char*> all, std::initializer_list<const char*> none = {}) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      auto has = [&](const std::string& flag) {
        return (" " + line + " ").find(" " + flag + " ") != std::string::npos;
      };
      return std::all_of(all.begin(), all.end(), has) && std::none_of(none.begin(), none.end(), has);
    }
  return false;
}

// Whether this CPU codes weights: AVX-512 BF16 and VBMI, and no AMX (which computes raw tiles).
bool cpu_codes_weights() { return cpu_flags({"avx512_bf16", "avx512vbmi"}, {"amx_tile"}); }
// Whether --dtype auto computes a BF16 model in bfloat16 (the kernels' AVX-512 BF16 set).
bool cpu_has_avx512_bf16() {
  return cpu_flags({"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "f16c", "fma"});
}

TEST(BenchLatency, WeightCodingFollowsTheFlagAndMaxNumSeqsAndBadValuesNameTheFlag) {
  const std::string bf16 = test::shared_dir() + "/models/tiny-random/llama-gqa/llama-gqa-bf16.gguf";
  const std::string base = pagellm_bin() + " bench latency -m " + shell_quote(bf16) +
                           " --batch-size 1 --input-len 4 --output-len 3 --num-iters 1 --num-iters-warmup 0";
  const std::string coded_header = ", BF16 weights coded\n";
  auto one = run_command(base + " --max-num-seqs 1");  // auto: coded for one sequence at a time
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out.find(coded_header) != std::string::npos, cpu_codes_weights()) << one.out;
  auto on = run_command(base + " --weight-coding on");
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.out.find(coded_header) != std::string::npos, cpu_codes_weights()) << on.out;
  for (const char* flags : {" --max-num-seqs 1 --weight-coding off", ""}) {  // off; auto with the default 128
    auto raw = run_command(base + flags);
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    EXPECT_EQ(raw.out.find(coded_header), std::string::npos) << flags << "\n" << raw.out;
  }
  auto bad = run_command(base + " --weight-coding maybe");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--weight-coding"), std::string::npos) << bad.err;
}

// --kv-cache-dtype: auto follows the compute dtype (bfloat16 for a BF16 model on an AVX512-BF16
// CPU), an explicit value wins, and a value we do not support names the flag.
TEST(BenchLatency, KvCacheDtypeFollowsComputeDtypeUnlessGiven) {
  const std::string bf16 = test::shared_dir() + "/models/tiny-random/llama-gqa/llama-gqa-bf16.gguf";
  const std::string base = pagellm_bin() + " bench latency -m " + shell_quote(bf16) +
                           " --batch-size 2 --input-len 20 --output-len 3 --num-iters 1 --num-iters-warmup 0";
  struct Want {
    const char* flags;
    std::string kv;
  };
  const std::string auto_kv = cpu_has_avx512_bf16() ? "bfloat16" : "float32";
  for (const Want& w :
       {Want{"", auto_kv}, Want{" --dtype float32", "float32"}, Want{" --kv-cache-dtype float32", "float32"},
        Want{" --dtype float32 --kv-cache-dtype bfloat16", "bfloat16"}}) {
    auto r = run_command(base + w.flags);
    ASSERT_EQ(r.exit_code, 0) << w.flags << "\n" << r.err;
    EXPECT_NE(r.out.find(" threads, KV cache " + w.kv), std::string::npos) << w.flags << "\n" << r.out;
    EXPECT_NE(r.out.find("Decode: "), std::string::npos) << r.out;
  }
  auto bad = run_command(base + " --kv-cache-dtype fp8");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--kv-cache-dtype"), std::string::npos) << bad.err;
}

// --dtype int8 runs a Q8_0 model's projections in int8 (printed and in the JSON); the flag's error
// names the values it takes.
TEST(BenchLatency, DtypeInt8ComputesQ8_0ModelsInInt8) {
  const std::string q8 = test::shared_dir() + "/models/tiny-random/llama-gqa/llama-gqa-q8_0.gguf";
  const std::string base = pagellm_bin() + " bench latency -m " + shell_quote(q8) +
                           " --batch-size 2 --input-len 20 --output-len 3 --num-iters 1 --num-iters-warmup 0";
  // auto: int8 where the AVX-512 VNNI tiles run (docs/cli.md), else float32.
  const char* by_auto = cpu_flags({"avx512f", "avx512bw", "avx512_vnni"}) ? "int8" : "float32";
  for (auto [flags, want] : {std::pair{"", by_auto}, {" --dtype int8", "int8"}, {" --dtype float32", "float32"}}) {
    auto r = run_command(base + flags);
    ASSERT_EQ(r.exit_code, 0) << flags << "\n" << r.err;
    EXPECT_NE(r.out.find(", KV cache float32, compute " + std::string(want) + "\n"), std::string::npos) << flags << "\n"
                                                                                                        << r.out;
    EXPECT_NE(r.out.find("Decode: "), std::string::npos) << r.out;
  }
  auto bad = run_command(base + " --dtype int4");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--dtype must be auto, float32, bfloat16 or int8, not 'int4'"), std::string::npos) << bad.err;
}

TEST(BenchLatency, RejectsBadShapes) {
  auto zero = run_command(pagellm_bin() + " bench latency -m " + shell_quote(kModel) + " --batch-size 0");
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_NE(zero.err.find("--batch-size"), std::string::npos) << zero.err;
  auto too_long = run_command(pagellm_bin() + " bench latency -m " + shell_quote(kModel) +
                              " --input-len 2040 --output-len 9 --num-iters 1 --num-iters-warmup 0");
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.err.find("--input-len 2040 + --output-len 9 exceed the maximum context length 2048"),
            std::string::npos)
      << too_long.err;
}

// The kernels' threads: --threads, PAGELLM_NUM_THREADS, else the CPUs the process may use (here
// one, through taskset's affinity mask, whatever the machine has).
TEST(BenchLatency, ThreadCountFromFlagEnvironmentAndAffinity) {
  BenchRun one = bench(1, 4, 2, 1, " --threads 1");
  ASSERT_EQ(one.result.exit_code, 0) << one.result.err;
  EXPECT_EQ(one.json["threads"], 1);
  BenchRun three = bench(1, 4, 2, 1, " --threads 3");
  ASSERT_EQ(three.result.exit_code, 0) << three.result.err;
  EXPECT_EQ(three.json["threads"], 3) << "more threads than CPUs is the user's call";
  EXPECT_NE(three.result.out.find(", 3 threads,"), std::string::npos) << three.result.out;

  const std::string base = pagellm_bin() + " bench latency -m " + shell_quote(kModel) +
                           " --batch-size 1 --input-len 4 --output-len 2 --num-iters 1 --num-iters-warmup 0";
  auto pinned = run_command("taskset -c 0 " + base);
  ASSERT_EQ(pinned.exit_code, 0) << pinned.err;
  EXPECT_NE(pinned.out.find(", 1 threads,"), std::string::npos) << pinned.out;
  auto from_env = run_command("PAGELLM_NUM_THREADS=2 taskset -c 0 " + base);
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_NE(from_env.out.find(", 2 threads,"), std::string::npos) << from_env.out;

  for (const char* flag : {" --threads 0", " --threads -2", " --threads 5000", " --threads two"}) {
    auto bad = run_command(base + flag);
    EXPECT_NE(bad.exit_code, 0) << flag;
    EXPECT_NE(bad.err.find("--threads"), std::string::npos) << flag << "\n" << bad.err;
  }
  for (const char* value : {"abc", "0", "-1", "3x"}) {
    auto bad = run_command(std::string("PAGELLM_NUM_THREADS=") + value + " " + base);
    EXPECT_EQ(bad.exit_code, 1) << value;
    EXPECT_NE(bad.err.find(std::string("PAGELLM_NUM_THREADS must be a whole number of threads from 1 to 1024, got '") +
                           value + "'"),
              std::string::npos)
        << bad.err;
  }
}

}  // namespace
}  // namespace pagellm
