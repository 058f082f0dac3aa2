// `pagellm generate`: one prompt streamed to stdout (or one JSON object), or an offline batch
// from a JSONL file through the continuously batching engine (vLLM's LLM.generate).
#include <cstdio>
#include <fstream>
#include <optional>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/parse_ids.h"
#include "cli/progress_bar.h"
#include "engine/llm.h"
#include "server/logprobs_json.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_ids;
  std::optional<std::string> prompts_file;
  std::optional<std::string> output;
  int64_t max_tokens = 128;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  bool ignore_eos = false;
  bool json = false;
  EngineFlags engine;
};

SamplingParams default_params(const GenerateOptions& o, const GenerationDefaults& defaults) {
  SamplingParams p;
  p.max_tokens = o.max_tokens;
  p.temperature = o.temperature.value_or(defaults.temperature.value_or(1.0));
  p.top_p = o.top_p.value_or(defaults.top_p.value_or(1.0));
  p.top_k = o.top_k.value_or(defaults.top_k.value_or(0));
  p.seed = o.seed;
  p.ignore_eos = o.ignore_eos;
  return p;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

int generate_one(const GenerateOptions& o) {
  LLM llm(o.model, o.engine.to_config());
  const ModelBundle& bundle = llm.engine().bundle();
  SamplingParams params = default_params(o, bundle.files->generation);
  params.validate();
  std::vector<int32_t> prompt_ids =
      o.prompt_ids ? parse_ids(*o.prompt_ids, "--prompt-ids") : bundle.tokenizer->encode(*o.prompt, true);

  EngineCore& core = llm.engine();
  core.add_request(std::make_shared<Request>("0", prompt_ids, params));
  std::vector<int32_t> token_ids;
  std::string text, finish_reason;
  while (core.has_unfinished()) {
    for (const RequestOutput& out : core.step()) {
      token_ids.insert(token_ids.end(), out.new_token_ids.begin(), out.new_token_ids.end());
      text += out.new_text;
      if (out.finished) finish_reason = out.finish_reason;
      if (!o.json && !out.new_text.empty()) {
        std::fwrite(out.new_text.data(), 1, out.new_text.size(), stdout);
        std::fflush(stdout);
      }
    }
  }
  if (o.json) {
    std::printf("%s\n", dump(Json{{"prompt_token_ids", prompt_ids},
                                  {"token_ids", token_ids},
                                  {"text", text},
                                  {"finish_reason", finish_reason}})
                            .c_str());
  } else {
    std::printf("\n");
  }
  return 0;
}

int generate_batch(const GenerateOptions& o) {
  std::ifstream in(*o.prompts_file);
  if (!in) fail(ErrorCode::kNotFound, "{}: cannot open prompts file", *o.prompts_file);
  LLM llm(o.model, o.engine.to_config());
  const SamplingParams base = default_params(o, llm.engine().bundle().files->generation);
  Json base_json = {{"max_tokens", base.max_tokens},
                    {"temperature", base.temperature},
                    {"top_p", base.top_p},
                    {"top_k", base.top_k},
                    {"ignore_eos", base.ignore_eos}};
  if (base.seed) base_json["seed"] = *base.seed;

  std::vector<PromptInput> prompts;
  std::vector<SamplingParams> params;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", *o.prompts_file, number);
    Json j;
    try {
      j = Json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail(ErrorCode::kInvalidArgument, "{}: invalid JSON: {}", where, e.what());
    }
    PromptInput p;
    try {
      if (!j.is_object()) fail(ErrorCode::kInvalidArgument, "{}: each line must be a JSON object", where);
      if (j.contains("prompt"))
        p.text = j["prompt"].get<std::string>();
      else if (j.contains("prompt_token_ids"))
        p.token_ids = j["prompt_token_ids"].get<std::vector<int32_t>>();
      else
        fail(ErrorCode::kInvalidArgument, "{}: needs \"prompt\" or \"prompt_token_ids\"", where);
      if (j.contains("request_id")) p.request_id = j["request_id"].get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorCode::kInvalidArgument, "{}: wrong field type: {}", where, e.what());
    }
    SamplingParams sp = base;
    try {
      if (j.contains("sampling_params")) {
        // The line's fields override the command-line defaults, field by field (vLLM's names).
        if (!j["sampling_params"].is_object()) fail(ErrorCode::kInvalidArgument, "sampling_params must be an object");
        Json merged = base_json;
        for (const auto& [key, value] : j["sampling_params"].items()) merged[key] = value;
        sp = SamplingParams::from_json(merged);
      }
      sp.validate(llm.engine().bundle().config().vocab_size);
    } catch (const Error& e) {
      fail(ErrorCode::kInvalidArgument, "{}: {}", where, e.what());
    }
    prompts.push_back(std::move(p));
    params.push_back(sp);
  }

  ProgressBar bar;
  std::vector<GenerateResult> results =
      llm.generate(prompts, params, [&](const GenerateProgress& p) { bar.update(p); });
  bar.finish();

  std::ofstream file;
  if (o.output) {
    file.open(*o.output, std::ios::binary | std::ios::trunc);
    if (!file) fail(ErrorCode::kNotFound, "{}: cannot open output file for writing", *o.output);
  }
  for (const GenerateResult& r : results) {
    Json outputs = Json::array();
    for (const CompletionOutput& c : r.outputs) {
      Json logprobs = nullptr;
      if (c.logprobs) {
        logprobs = Json::array();
        for (const PositionLogprobs& p : *c.logprobs) logprobs.push_back(server::position_logprobs_json(p));
      }
      outputs.push_back({{"index", c.index},
                         {"text", c.text},
                         {"token_ids", c.token_ids},
                         {"finish_reason", c.finish_reason},
                         {"cumulative_logprob", c.cumulative_logprob ? Json(*c.cumulative_logprob) : Json(nullptr)},
                         {"logprobs", logprobs}});
    }
    const std::string line_out = dump(
        Json{{"request_id", r.request_id},
             {"prompt", r.prompt ? Json(*r.prompt) : Json(nullptr)},
             {"prompt_token_ids", r.prompt_token_ids},
             {"prompt_logprobs", r.prompt_logprobs ? server::prompt_logprobs_json(*r.prompt_logprobs) : Json(nullptr)},
             {"outputs", outputs},
             {"num_cached_tokens", r.num_cached_tokens}});
    if (o.output)
      file << line_out << '\n';
    else
      std::printf("%s\n", line_out.c_str());
  }
  return 0;
}

}  // namespace

CommandFn register_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd =
      app.add_subcommand("generate", "Generate continuations: one prompt, or a JSONL batch (--prompts-file)");
  cmd->add_option("--model,-m", o->model, "HF model directory or .gguf file")->required();
  auto* prompt = cmd->add_option("--prompt,-p", o->prompt, "Prompt text (BOS added as the tokenizer says)");
  auto* ids = cmd->add_option("--prompt-ids", o->prompt_ids, "Prompt as comma-separated token ids, e.g. 1,403,407");
  auto* file = cmd->add_option("--prompts-file", o->prompts_file,
                               "JSONL batch: {\"prompt\": ...} or {\"prompt_token_ids\": [...]} per line, optional "
                               "\"sampling_params\" and \"request_id\"");
  prompt->excludes(ids)->excludes(file);
  ids->excludes(file);
  cmd->add_option("--output,-o", o->output, "With --prompts-file: write the results here (default stdout)");
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
  add_engine_flags(*cmd, o->engine);
  cmd->callback([prompt, ids, file] {
    if (prompt->count() + ids->count() + file->count() == 0)
      throw CLI::RequiredError("one of --prompt, --prompt-ids or --prompts-file");
  });
  return [o] { return o->prompts_file ? generate_batch(*o) : generate_one(*o); };
}

}  // namespace pagellm::cli
