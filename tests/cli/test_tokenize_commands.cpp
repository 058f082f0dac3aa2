// `pagellm tokenize`, `detokenize` and `chat-template` end to end against the shared vectors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_command.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::pagellm_bin;
using test::run_command;
using test::shared_dir;
using test::shell_quote;

std::string ids_csv(const Json& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + std::to_string(id.get<int>());
  return s;
}

TEST(TokenizeCommand, MatchesReferenceIdsAndDecodes) {
  for (std::string name : {"llama-3-8b-instruct", "qwen3", "mistral-7b-v0.1", "gpt2"}) {
    const std::string dir = shared_dir() + "/tokenizers/" + name;
    Json expected = read_json_file(dir + "/expected.json");
    int checked = 0;
    for (const Json& c : expected["cases"]) {
      const std::string text = c["text"].get<std::string>();
      if (text.empty() || text.find('\0') != std::string::npos || text[0] == '-') continue;
      if (++checked > 6) break;
      auto with = run_command(pagellm_bin() + " tokenize -m " + shell_quote(dir) + " --json -- " + shell_quote(text));
      ASSERT_EQ(with.exit_code, 0) << with.err;
      EXPECT_EQ(Json::parse(with.out)["ids"], c["ids_add_special"]) << name << " " << c["id"];
      auto without =
          run_command(pagellm_bin() + " tokenize -m " + shell_quote(dir) + " --no-special -- " + shell_quote(text));
      EXPECT_EQ(without.out, ids_csv(c["ids"]) + "\n") << name << " " << c["id"];
      auto back =
          run_command(pagellm_bin() + " detokenize -m " + shell_quote(dir) + " " + ids_csv(c["ids_add_special"]));
      EXPECT_EQ(back.out, c["decode"].get<std::string>()) << name << " " << c["id"];
      auto skip = run_command(pagellm_bin() + " detokenize --skip-special -m " + shell_quote(dir) + " " +
                              ids_csv(c["ids_add_special"]));
      EXPECT_EQ(skip.out, c["decode_skip_special"].get<std::string>()) << name << " " << c["id"];
    }
  }
  auto gguf = run_command(pagellm_bin() + " tokenize -m " +
                          shell_quote(shared_dir() + "/models/stories260K/stories260K.gguf") + " 'Once upon a time'");
  EXPECT_EQ(gguf.out, "1,403,407,261,378\n");
  auto bad =
      run_command(pagellm_bin() + " detokenize -m " + shell_quote(shared_dir() + "/tokenizers/gpt2") + " 1,999999");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("999999"), std::string::npos) << bad.err;
}

// Batch mode: every case of every expected.json through one process a direction, in order.
TEST(TokenizeCommand, JsonlBatchMatchesReference) {
  const auto dir_path = std::filesystem::temp_directory_path() / ("pagellm_jsonl_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir_path);
  for (std::string name : {"llama-3-8b-instruct", "mistral-7b-v0.1-legacy", "gpt2"}) {
    const std::string dir = shared_dir() + "/tokenizers/" + name;
    Json expected = read_json_file(dir + "/expected.json");
    const std::string texts = (dir_path / "texts.jsonl").string(), ids = (dir_path / "ids.jsonl").string();
    {
      std::ofstream t(texts), i(ids);
      for (const Json& c : expected["cases"]) {
        t << c["text"].dump() << "\n";
        i << c["ids_add_special"].dump() << "\n";
      }
    }
    auto encoded = run_command(pagellm_bin() + " tokenize -m " + shell_quote(dir) + " --jsonl < " + shell_quote(texts));
    ASSERT_EQ(encoded.exit_code, 0) << encoded.err;
    auto decoded = run_command(pagellm_bin() + " detokenize --skip-special -m " + shell_quote(dir) + " --jsonl < " +
                               shell_quote(ids));
    ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
    std::istringstream enc(encoded.out), dec(decoded.out);
    std::string enc_line, dec_line;
    size_t n = 0;
    for (const Json& c : expected["cases"]) {
      ASSERT_TRUE(std::getline(enc, enc_line) && std::getline(dec, dec_line)) << name << " ended at case " << n;
      EXPECT_EQ(Json::parse(enc_line), c["ids_add_special"]) << name << " " << c["id"];
      EXPECT_EQ(Json::parse(dec_line), c["decode_skip_special"]) << name << " " << c["id"];
      ++n;
    }
    EXPECT_FALSE(std::getline(enc, enc_line)) << name << ": more lines than cases";
  }
  // A bad line stops the run with its number; TEXT and --jsonl together are refused.
  const std::string gpt2 = shell_quote(shared_dir() + "/tokenizers/gpt2");
  auto bad = run_command("printf '\"ok\"\\n42\\n' | " + pagellm_bin() + " tokenize -m " + gpt2 + " --jsonl");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("stdin line 2"), std::string::npos) << bad.err;
  auto bad_ids = run_command("printf '[1, -3]\\n' | " + pagellm_bin() + " detokenize -m " + gpt2 + " --jsonl");
  EXPECT_EQ(bad_ids.exit_code, 1);
  EXPECT_NE(bad_ids.err.find("stdin line 1: '-3'"), std::string::npos) << bad_ids.err;
  auto both = run_command(pagellm_bin() + " tokenize -m " + gpt2 + " --jsonl hello < /dev/null");
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
  std::filesystem::remove_all(dir_path);
}

TEST(ChatTemplateCommand, RendersGoldensByteForByte) {
  const std::string base = shared_dir() + "/chat_templates/";
  Json goldens = read_json_file(base + "goldens.json");
  Json templates = read_json_file(base + "templates.json")["templates"];
  const auto messages =
      std::filesystem::temp_directory_path() / ("pagellm_msgs_" + std::to_string(::getpid()) + ".json");
  const auto tools = std::filesystem::temp_directory_path() / ("pagellm_tools_" + std::to_string(::getpid()) + ".json");
  std::ofstream(tools) << goldens["tools"].dump();
  int rendered = 0, errors = 0;
  for (const Json& c : goldens["cases"]) {
    const std::string name = c["template"].get<std::string>();
    // strftime_now needs a frozen clock; those templates are covered by the chat unit tests.
    if (name.find("Llama-3.") != std::string::npos) continue;
    const Json& t = templates[name];
    std::ofstream(messages) << goldens["conversations"][c["conversation"].get<std::string>()].dump();
    std::string cmd = pagellm_bin() + " chat-template --template " + shell_quote(base + t["file"].get<std::string>()) +
                      " --messages " + shell_quote(messages.string());
    if (c["tools"].get<bool>()) cmd += " --tools " + shell_quote(tools.string());
    if (c["add_generation_prompt"].get<bool>()) cmd += " --add-generation-prompt";
    if (!t["bos_token"].is_null()) cmd += " --bos-token " + shell_quote(t["bos_token"].get<std::string>());
    if (!t["eos_token"].is_null()) cmd += " --eos-token " + shell_quote(t["eos_token"].get<std::string>());
    auto r = run_command(cmd);
    if (c.contains("expected_text")) {
      ASSERT_EQ(r.exit_code, 0) << name << " " << c["conversation"] << r.err;
      EXPECT_EQ(r.out, c["expected_text"].get<std::string>()) << name << " " << c["conversation"];
      ++rendered;
    } else {
      EXPECT_EQ(r.exit_code, 1) << name << " " << c["conversation"];
      EXPECT_TRUE(r.out.empty());
      ++errors;
    }
  }
  std::filesystem::remove(messages);
  std::filesystem::remove(tools);
  EXPECT_GT(rendered, 150);
  EXPECT_GT(errors, 5);
}

TEST(ChatTemplateCommand, UsesTheModelsTemplateAndReportsErrors) {
  const std::string msgs = (std::filesystem::temp_directory_path() / "pagellm_one_msg.json").string();
  std::ofstream(msgs) << R"([{"role": "user", "content": "Hi"}])";
  auto r = run_command(pagellm_bin() + " chat-template -m " + shell_quote(shared_dir() + "/tokenizers/qwen3") +
                       " --messages " + shell_quote(msgs) + " --add-generation-prompt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const std::string bad_tmpl = (std::filesystem::temp_directory_path() / "pagellm_bad.jinja").string();
  std::ofstream(bad_tmpl) << "hello\n{% if %}";
  auto bad = run_command(pagellm_bin() + " chat-template --template " + shell_quote(bad_tmpl) + " --messages " +
                         shell_quote(msgs));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("line 2"), std::string::npos) << bad.err;
  auto none = run_command(pagellm_bin() + " chat-template -m " +
                          shell_quote(shared_dir() + "/models/stories260K/stories260K.gguf") + " --messages " +
                          shell_quote(msgs));
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("chat template"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace pagellm
