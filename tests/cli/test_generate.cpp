// `pagellm generate` end to end: the real binary on the demo model against expected/greedy.json.
#include <gtest/gtest.h>

#include "run_command.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::pagellm_bin;
using test::run_command;
using test::shared_dir;
using test::shell_quote;

std::string stories(bool gguf) {
  return shared_dir() + (gguf ? "/models/stories260K/stories260K.gguf" : "/models/stories260K/hf");
}

class GenerateGreedy : public ::testing::TestWithParam<bool> {};

TEST_P(GenerateGreedy, JsonMatchesExpectedIdsAndText) {
  Json expected = read_json_file(shared_dir() + "/models/stories260K/expected/greedy.json");
  for (const Json& c : expected["cases"]) {
    const int n = c["n_generated"].get<int>();
    auto r = run_command(pagellm_bin() + " generate --model " + shell_quote(stories(GetParam())) + " --prompt " +
                         shell_quote(c["prompt"].get<std::string>()) + " --max-tokens " + std::to_string(n) +
                         " --temperature 0 --ignore-eos --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json got = Json::parse(r.out);
    EXPECT_EQ(got["prompt_token_ids"], c["prompt_ids"]) << c["name"];
    const auto want_ids = c["generated_ids"].get<std::vector<int32_t>>();
    const auto got_ids = got["token_ids"].get<std::vector<int32_t>>();
    const auto safe = c["safe_prefix"].get<size_t>();
    ASSERT_EQ(got_ids.size(), want_ids.size());
    EXPECT_TRUE(std::equal(want_ids.begin(), want_ids.begin() + safe, got_ids.begin())) << c["name"];
    if (got_ids == want_ids) {
      EXPECT_EQ(got["text"], c["generated_text"]) << c["name"];
    }
    EXPECT_EQ(got["finish_reason"], "length");
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, GenerateGreedy, ::testing::Bool(),
                         [](const auto& info) { return info.param ? std::string("gguf") : std::string("hf"); });

TEST(Generate, StreamedTextEqualsJsonTextAndPromptIdsWork) {
  const std::string base = pagellm_bin() + " generate -m " + shell_quote(stories(true)) +
                           " --prompt-ids 1,403,407,261,378 --max-tokens 40 --temperature 0 --ignore-eos";
  auto text = run_command(base);
  auto json = run_command(base + " --json");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(text.out, Json::parse(json.out)["text"].get<std::string>() + "\n");
  EXPECT_EQ(Json::parse(json.out)["token_ids"].size(), 40u);
}

TEST(Generate, SeededSamplingIsReproducible) {
  const std::string base = pagellm_bin() + " generate -m " + shell_quote(stories(true)) +
                           " --prompt 'Once upon a time' --max-tokens 30 --temperature 1.0 --top-p 0.9 --json";
  auto a = run_command(base + " --seed 42");
  auto b = run_command(base + " --seed 42");
  auto c = run_command(base + " --seed 43");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(Json::parse(a.out)["token_ids"], Json::parse(b.out)["token_ids"]);
  EXPECT_NE(Json::parse(a.out)["token_ids"], Json::parse(c.out)["token_ids"]);
}

TEST(Generate, BadInputExitsWithAClearError) {
  auto missing = run_command(pagellm_bin() + " generate -m /nonexistent/model.gguf --prompt hi");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/model.gguf"), std::string::npos) << missing.err;

  auto bad_ids = run_command(pagellm_bin() + " generate -m " + shell_quote(stories(true)) + " --prompt-ids 1,x,3");
  EXPECT_EQ(bad_ids.exit_code, 1);
  EXPECT_NE(bad_ids.err.find("--prompt-ids"), std::string::npos) << bad_ids.err;

  auto out_of_vocab =
      run_command(pagellm_bin() + " generate -m " + shell_quote(stories(true)) + " --prompt-ids 1,9999");
  EXPECT_EQ(out_of_vocab.exit_code, 1);
  EXPECT_NE(out_of_vocab.err.find("9999"), std::string::npos) << out_of_vocab.err;

  auto bad_temp =
      run_command(pagellm_bin() + " generate -m " + shell_quote(stories(true)) + " --prompt hi --temperature -1");
  EXPECT_EQ(bad_temp.exit_code, 1);
  EXPECT_NE(bad_temp.err.find("temperature"), std::string::npos) << bad_temp.err;

  auto no_prompt = run_command(pagellm_bin() + " generate -m " + shell_quote(stories(true)));
  EXPECT_NE(no_prompt.exit_code, 0);
  EXPECT_NE(no_prompt.err.find("--prompt"), std::string::npos) << no_prompt.err;

  auto not_a_model =
      run_command(pagellm_bin() + " generate -m " + shell_quote(shared_dir() + "/README.md") + " --prompt hi");
  EXPECT_EQ(not_a_model.exit_code, 1);
  EXPECT_NE(not_a_model.err.find("README.md"), std::string::npos) << not_a_model.err;
}

TEST(Cli, VersionAndHelp) {
  auto v = run_command(pagellm_bin() + " --version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("pagellm"), std::string::npos);
  auto h = run_command(pagellm_bin() + " --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("generate"), std::string::npos);
  auto gh = run_command(pagellm_bin() + " generate --help");
  EXPECT_EQ(gh.exit_code, 0);
  EXPECT_NE(gh.out.find("--max-tokens"), std::string::npos);
  auto unknown = run_command(pagellm_bin() + " frobnicate");
  EXPECT_NE(unknown.exit_code, 0);
}

}  // namespace
}  // namespace pagellm
