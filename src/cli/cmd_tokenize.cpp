// `pagellm tokenize` and `pagellm detokenize`: the model's tokenizer alone (no weights loaded).
#include <cstdio>

#include "cli/commands.h"
#include "cli/parse_ids.h"
#include "tokenizer/load_tokenizer.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool no_special = false;
  bool json = false;
};

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  bool skip_special = false;
};

}  // namespace

CommandFn register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of TEXT (comma-separated, or JSON)");
  cmd->add_option("--model,-m", o->model, "HF model directory, tokenizer.json or .gguf file")->required();
  cmd->add_flag("--no-special", o->no_special, "Do not add special tokens (add_special_tokens=false: no BOS/EOS)");
  cmd->add_flag("--json", o->json, "Print {\"ids\": [...], \"tokens\": [...]}");
  cmd->add_option("text", o->text, "Text to tokenize")->required();
  return [o] {
    auto tokenizer = load_tokenizer(o->model);
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
  cmd->add_option("ids", o->ids, "Token ids, e.g. 1,403,407")->required();
  return [o] {
    auto tokenizer = load_tokenizer(o->model);
    const std::string text = tokenizer->decode(parse_ids(o->ids, "ids"), o->skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  };
}

}  // namespace pagellm::cli
