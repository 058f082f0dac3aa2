// `pagellm tokenize` and `pagellm detokenize`: the model's tokenizer alone (no weights loaded).
#include <cstdint>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/parse_ids.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool no_special = false;
  bool json = false;
  bool jsonl = false;
};

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  bool skip_special = false;
  bool jsonl = false;
};

// Batch mode (--jsonl): one JSON value a line on stdin, one result a line on stdout, so a caller
// (scripts, the differential tests against Hugging Face) tokenizes thousands of texts with one load.
// A line that is not the expected JSON stops the run with an error naming its number.
template <typename Fn>
void for_each_stdin_json_line(const char* expected, Fn&& fn) {
  std::string line;
  for (size_t number = 1; std::getline(std::cin, line); ++number) {
    Json value = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded())
      fail(ErrorCode::kInvalidArgument, "stdin line {}: not valid JSON (expected {})", number, expected);
    fn(value, number);
  }
}

std::string ids_json(const std::vector<int32_t>& ids) { return Json(ids).dump(); }

std::vector<int32_t> json_ids(const Json& value, size_t number) {
  std::vector<int32_t> ids;
  if (!value.is_array()) fail(ErrorCode::kInvalidArgument, "stdin line {}: expected a JSON array of token ids", number);
  for (const Json& id : value) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(ErrorCode::kInvalidArgument, "stdin line {}: '{}' is not a non-negative token id", number, id.dump());
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

}  // namespace

CommandFn register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of TEXT (comma-separated, or JSON)");
  cmd->add_option("--model,-m", o->model, "HF model directory, tokenizer.json or .gguf file")->required();
  cmd->add_flag("--no-special", o->no_special, "Do not add special tokens (add_special_tokens=false: no BOS/EOS)");
  cmd->add_flag("--json", o->json, "Print {\"ids\": [...], \"tokens\": [...]}");
  cmd->add_flag("--jsonl", o->jsonl,
                "Batch: read one JSON string a line from stdin, print one JSON array of ids a line");
  CLI::Option* text = cmd->add_option("text", o->text, "Text to tokenize");
  return [o, text] {
    if (o->jsonl == (text->count() > 0))
      fail(ErrorCode::kInvalidArgument, "tokenize: give either TEXT or --jsonl (texts on stdin), not both or neither");
    auto tokenizer = load_tokenizer(o->model);
    if (o->jsonl) {
      for_each_stdin_json_line("a JSON string", [&](const Json& value, size_t number) {
        if (!value.is_string()) fail(ErrorCode::kInvalidArgument, "stdin line {}: expected a JSON string", number);
        std::printf("%s\n", ids_json(tokenizer->encode(value.get<std::string>(), !o->no_special)).c_str());
      });
      return 0;
    }
    std::vector<int32_t> ids = tokenizer->encode(o->text, !o->no_special);
    if (o->json) {
      Json tokens = Json::array();
      for (int32_t id : ids) tokens.push_back(tokenizer->id_to_token(id));
      std::printf("%s\n",
                  Json{{"ids", ids}, {"tokens", tokens}}.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    } else {
      std::string line;
      for (size_t i = 0; i < ids.size(); ++i) line += (i ? "," : "") + std::to_string(ids[i]);
      std::printf("%s\n", line.c_str());
    }
    return 0;
  };
}

CommandFn register_detokenize(CLI::App& app) {
  auto o = std::make_shared<DetokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("detokenize", "Print the text of comma-separated token ids (no newline added)");
  cmd->add_option("--model,-m", o->model, "HF model directory, tokenizer.json or .gguf file")->required();
  cmd->add_flag("--skip-special", o->skip_special, "Leave special tokens (BOS, EOS, ...) out of the text");
  cmd->add_flag("--jsonl", o->jsonl,
                "Batch: read one JSON array of ids a line from stdin, print one JSON string a line");
  CLI::Option* ids = cmd->add_option("ids", o->ids, "Token ids, e.g. 1,403,407");
  return [o, ids] {
    if (o->jsonl == (ids->count() > 0))
      fail(ErrorCode::kInvalidArgument,
           "detokenize: give either IDS or --jsonl (id arrays on stdin), not both or neither");
    auto tokenizer = load_tokenizer(o->model);
    if (o->jsonl) {
      for_each_stdin_json_line("a JSON array of token ids", [&](const Json& value, size_t number) {
        const std::string text = tokenizer->decode(json_ids(value, number), o->skip_special);
        std::printf("%s\n", Json(text).dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
      });
      return 0;
    }
    const std::string text = tokenizer->decode(parse_ids(o->ids, "ids"), o->skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  };
}

}  // namespace pagellm::cli
