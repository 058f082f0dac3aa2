// `pagellm generate --prompts-file` and `pagellm bench`: the real binary, end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "run_command.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::pagellm_bin;
using test::run_command;
using test::shell_quote;

const std::string kModel = test::shared_dir() + "/models/stories260K/stories260K.gguf";

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("pagellm_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    out.push_back(Json::parse(text.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

Json single(const std::string& prompt_flag, int max_tokens) {
  auto r = run_command(pagellm_bin() + " generate -m " + shell_quote(kModel) + " " + prompt_flag +
                       " --temperature 0 --ignore-eos --json -n " + std::to_string(max_tokens));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return Json::parse(r.out);
}

TEST(GenerateBatch, OutputsFollowInputOrderAndMatchSingleRuns) {
  const std::string in =
      write_temp("in.jsonl",
                 "{\"prompt\": \"Once upon a time\", \"request_id\": \"a\"}\n"
                 "\n"
                 "{\"prompt_token_ids\": [1, 317, 269], \"sampling_params\": {\"max_tokens\": 7}}\n"
                 "{\"prompt\": \"The cat\", \"sampling_params\": {\"max_tokens\": 3, \"temperature\": 0}}\n");
  const std::string out = write_temp("out.jsonl", "");
  for (std::string flags : {"", " --max-num-seqs 1", " --no-enable-prefix-caching --no-enable-chunked-prefill",
                            " --max-model-len 64 --kv-cache-memory 100KiB --max-num-batched-tokens 8"}) {
    auto r = run_command(pagellm_bin() + " generate -m " + shell_quote(kModel) + " --prompts-file " + shell_quote(in) +
                         " --output " + shell_quote(out) + " --temperature 0 --ignore-eos -n 20" + flags);
    ASSERT_EQ(r.exit_code, 0) << flags << ": " << r.err;
    EXPECT_EQ(r.out, "");
    std::vector<Json> lines = json_lines(read_text_file(out));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0]["request_id"], "a");
    EXPECT_EQ(lines[1]["request_id"], "1");
    EXPECT_EQ(lines[2]["request_id"], "2");
    EXPECT_EQ(lines[0]["prompt"], "Once upon a time");
    EXPECT_TRUE(lines[1]["prompt"].is_null());
    const Json a = single("--prompt 'Once upon a time'", 20);
    const Json b = single("--prompt-ids 1,317,269", 7);
    const Json c = single("--prompt 'The cat'", 3);
    int i = 0;
    for (const Json* want : {&a, &b, &c}) {
      const Json& got = lines[static_cast<size_t>(i++)];
      EXPECT_EQ(got["prompt_token_ids"], (*want)["prompt_token_ids"]) << flags;
      ASSERT_EQ(got["outputs"].size(), 1u);
      EXPECT_EQ(got["outputs"][0]["index"], 0);
      EXPECT_EQ(got["outputs"][0]["token_ids"], (*want)["token_ids"]) << flags;
      EXPECT_EQ(got["outputs"][0]["text"], (*want)["text"]) << flags;
      EXPECT_EQ(got["outputs"][0]["finish_reason"], "length");
      EXPECT_TRUE(got.contains("num_cached_tokens"));
    }
  }
}

double log_softmax_at(const Json& logits, int64_t id) {
  double max = -INFINITY, sum = 0;
  for (const Json& v : logits) max = std::max(max, v.get<double>());
  for (const Json& v : logits) sum += std::exp(v.get<double>() - max);
  return logits[static_cast<size_t>(id)].get<double>() - max - std::log(sum);
}

// vLLM's logprobs and prompt_logprobs in the output lines, against the float64 reference's logits
// at every position of a 49-token prompt (stories260K/expected/logits.json).
TEST(GenerateBatch, LogprobsAndPromptLogprobsMatchTheReferenceLogits) {
  const Json expected = read_json_file(test::shared_dir() + "/models/stories260K/expected/logits.json");
  const Json* long_case = nullptr;
  for (const Json& c : expected["cases"])
    if (c.contains("all_logits")) long_case = &c;
  ASSERT_NE(long_case, nullptr);
  const Json& ids = (*long_case)["prompt_ids"];
  const std::string in = write_temp(
      "logprobs.jsonl",
      Json{{"prompt_token_ids", ids},
           {"sampling_params", {{"temperature", 0}, {"max_tokens", 1}, {"logprobs", 3}, {"prompt_logprobs", 3}}}}
              .dump() +
          "\n");
  auto r = run_command(pagellm_bin() + " generate -m " + shell_quote(kModel) + " --prompts-file " + shell_quote(in));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json line = json_lines(r.out).at(0);
  const Json& prompt_logprobs = line["prompt_logprobs"];
  ASSERT_EQ(prompt_logprobs.size(), ids.size());
  EXPECT_TRUE(prompt_logprobs[0].is_null());
  const Json& all = (*long_case)["all_logits"];
  for (size_t i = 1; i < ids.size(); ++i) {
    const Json& entry = prompt_logprobs[i];
    ASSERT_TRUE(entry.contains(std::to_string(ids[i].get<int>()))) << "position " << i << ": no prompt token";
    EXPECT_GE(entry.size(), 3u);
    for (const auto& [key, lp] : entry.items())
      EXPECT_NEAR(lp["logprob"].get<double>(), log_softmax_at(all[i - 1], std::stoll(key)), 1e-4)
          << "position " << i << " token " << key;
  }
  const Json& out = line["outputs"][0];
  ASSERT_EQ(out["logprobs"].size(), 1u);
  const std::string chosen = std::to_string(out["token_ids"][0].get<int>());
  const Json& step = out["logprobs"][0];
  EXPECT_EQ(step[chosen]["rank"], 1);  // greedy
  EXPECT_NEAR(step[chosen]["logprob"].get<double>(), out["cumulative_logprob"].get<double>(), 1e-9);
  for (const auto& [key, lp] : step.items())
    EXPECT_NEAR(lp["logprob"].get<double>(), log_softmax_at((*long_case)["last_logits"], std::stoll(key)), 1e-4)
        << "generated token " << key;
}

TEST(GenerateBatch, PrefixCacheHitsAreReported) {
  std::string text;
  for (int i = 0; i < 3; ++i)
    text += "{\"prompt\": \"Once upon a time there was a little girl named Lily. She loved to play\"}\n";
  const std::string in = write_temp("same.jsonl", text);
  auto r = run_command(pagellm_bin() + " generate -m " + shell_quote(kModel) + " --prompts-file " + shell_quote(in) +
                       " --temperature 0 -n 4 --max-num-seqs 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Json> lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["num_cached_tokens"], 0);
  EXPECT_EQ(lines[2]["num_cached_tokens"], 16);  // one full block of the 20-token prompt
}

TEST(GenerateBatch, BadInputNamesTheLineAndFlag) {
  auto run = [](const std::string& content, const std::string& flags = "") {
    return run_command(pagellm_bin() + " generate -m " + shell_quote(kModel) + " --prompts-file " +
                       shell_quote(write_temp("bad.jsonl", content)) + flags);
  };
  auto bad_json = run("{\"prompt\": \"ok\"}\n{not json\n");
  EXPECT_EQ(bad_json.exit_code, 1);
  EXPECT_NE(bad_json.err.find("bad.jsonl:2"), std::string::npos) << bad_json.err;
  auto no_prompt = run("{\"text\": \"x\"}\n");
  EXPECT_EQ(no_prompt.exit_code, 1);
  EXPECT_NE(no_prompt.err.find("prompt"), std::string::npos) << no_prompt.err;
  auto bad_field = run("{\"prompt\": \"x\", \"sampling_params\": {\"temperature\": \"hot\"}}\n");
  EXPECT_EQ(bad_field.exit_code, 1);
  EXPECT_NE(bad_field.err.find("temperature"), std::string::npos) << bad_field.err;
  auto bad_value = run("{\"prompt\": \"x\", \"sampling_params\": {\"top_p\": 1.5}}\n");
  EXPECT_EQ(bad_value.exit_code, 1);
  EXPECT_NE(bad_value.err.find("top_p"), std::string::npos) << bad_value.err;
  auto bad_id = run("{\"prompt_token_ids\": [1, 99999]}\n");
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_NE(bad_id.err.find("99999"), std::string::npos) << bad_id.err;
  auto too_small = run("{\"prompt\": \"x\"}\n", " --kv-cache-memory 64KiB");
  EXPECT_EQ(too_small.exit_code, 1);
  EXPECT_NE(too_small.err.find("--max-model-len"), std::string::npos) << too_small.err;
  auto bad_size = run("{\"prompt\": \"x\"}\n", " --kv-cache-memory lots");
  EXPECT_EQ(bad_size.exit_code, 1);
  EXPECT_NE(bad_size.err.find("--kv-cache-memory"), std::string::npos) << bad_size.err;
  auto missing =
      run_command(pagellm_bin() + " generate -m " + shell_quote(kModel) + " --prompts-file /nonexistent.jsonl");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent.jsonl"), std::string::npos) << missing.err;
}

TEST(Bench, ThroughputAndSchedulerPrintTheirFigures) {
  auto t = run_command(pagellm_bin() + " bench throughput -m " + shell_quote(kModel) +
                       " --num-prompts 8 --input-len 16 --output-len 8 --json");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  Json j = Json::parse(t.out);
  EXPECT_GT(j["output_tokens_per_s"].get<double>(), 0);
  EXPECT_NEAR(j["total_tokens_per_s"].get<double>() / j["output_tokens_per_s"].get<double>(), 3.0, 1e-6);
  EXPECT_GT(j["steps"].get<int>(), 7);
  auto text = run_command(pagellm_bin() + " bench throughput -m " + shell_quote(kModel) +
                          " --num-prompts 2 --input-len 4 --output-len 2");
  EXPECT_NE(text.out.find("Throughput:"), std::string::npos);
  EXPECT_EQ(text.out.find("steps: "), std::string::npos) << "no profile without PAGELLM_PROFILE=1";
  // With it, the profile of the whole run: one prefill step of both prompts (8 tokens), then one
  // decode step of both sequences for their second token.
  auto profiled = run_command("PAGELLM_PROFILE=1 " + pagellm_bin() + " bench throughput -m " + shell_quote(kModel) +
                              " --num-prompts 2 --input-len 4 --output-len 2");
  ASSERT_EQ(profiled.exit_code, 0) << profiled.err;
  EXPECT_NE(profiled.out.find("\nprefill/mixed steps: 1 (8.0 tokens each)"), std::string::npos) << profiled.out;
  EXPECT_NE(profiled.out.find("\ndecode steps: 1 (2.0 tokens each)"), std::string::npos) << profiled.out;
  auto s = run_command(pagellm_bin() + " bench scheduler --num-requests 4,8 --json");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(Json::parse(s.out).size(), 2u);
}

}  // namespace
}  // namespace pagellm
