// `pagellm generate`: one prompt in, its continuation streamed to stdout (or one JSON object).
#include <cstdio>
#include <optional>

#include "cli/commands.h"
#include "cli/parse_ids.h"
#include "engine/model_bundle.h"
#include "engine/single_sequence_generator.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_ids;
  int64_t max_tokens = 128;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  bool ignore_eos = false;
  bool json = false;
};

int run_generate(const GenerateOptions& o) {
  ModelBundle bundle = load_model_bundle(o.model);
  const GenerationDefaults& defaults = bundle.files->generation;
  SamplingParams params;
  params.max_tokens = o.max_tokens;
  params.temperature = o.temperature.value_or(defaults.temperature.value_or(1.0));
  params.top_p = o.top_p.value_or(defaults.top_p.value_or(1.0));
  params.top_k = o.top_k.value_or(defaults.top_k.value_or(0));
  params.seed = o.seed;
  params.ignore_eos = o.ignore_eos;
  params.validate();

  std::vector<int32_t> prompt_ids =
      o.prompt_ids ? parse_ids(*o.prompt_ids, "--prompt-ids") : bundle.tokenizer->encode(*o.prompt, true);

  IncrementalDetokenizer detok(*bundle.tokenizer, prompt_ids, /*skip_special_tokens=*/true);
  std::string text;
  GenerationResult result = generate_single_sequence(bundle, prompt_ids, params, [&](int32_t token) {
    std::string piece = detok.add(token);
    text += piece;
    if (!o.json && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
  });
  std::string tail = detok.finish();
  text += tail;
  if (o.json) {
    Json out = {{"prompt_token_ids", prompt_ids},
                {"token_ids", result.token_ids},
                {"text", text},
                {"finish_reason", result.finish_reason}};
    std::printf("%s\n", out.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  } else {
    std::fwrite(tail.data(), 1, tail.size(), stdout);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

CommandFn register_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate a continuation of one prompt");
  cmd->add_option("--model,-m", o->model, "HF model directory or .gguf file")->required();
  auto* prompt = cmd->add_option("--prompt,-p", o->prompt, "Prompt text (BOS added as the tokenizer says)");
  auto* ids = cmd->add_option("--prompt-ids", o->prompt_ids, "Prompt as comma-separated token ids, e.g. 1,403,407");
  prompt->excludes(ids);
  ids->excludes(prompt);
  cmd->add_option("--max-tokens,-n", o->max_tokens, "Maximum tokens to generate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", o->temperature,
                  "Sampling temperature, 0 = greedy (default: generation_config.json, else 1.0)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling mass in (0, 1] (default: generation_config.json, else 1.0)");
  cmd->add_option("--top-k", o->top_k, "Keep only the k most likely tokens; 0 or -1 = off");
  cmd->add_option("--seed", o->seed, "Random seed for reproducible sampling");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past the end-of-sequence token");
  cmd->add_flag("--json", o->json,
                "Print one JSON object {prompt_token_ids, token_ids, text, finish_reason} instead of streaming text");
  cmd->callback([prompt, ids] {
    if (prompt->count() == 0 && ids->count() == 0) throw CLI::RequiredError("one of --prompt or --prompt-ids");
  });
  return [o] { return run_generate(*o); };
}

}  // namespace pagellm::cli
