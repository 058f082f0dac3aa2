#pragma once
// The offline API, in the spirit of vLLM's LLM.generate(prompts, sampling_params): give it all
// the prompts, it batches them continuously and returns every result in input order.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/beam_search.h"
#include "engine/engine_config.h"
#include "engine/engine_core.h"
#include "sampling/sampling_params.h"

namespace pagellm {

struct PromptInput {
  std::optional<std::string> text;        // tokenized with the model's tokenizer (BOS as it says)
  std::vector<int32_t> token_ids;         // used when text is absent
  std::optional<std::string> request_id;  // default: the input's index
};

// vLLM's CompletionOutput and RequestOutput (final form).
struct CompletionOutput {
  int64_t index = 0;
  std::string text;
  std::vector<int32_t> token_ids;
  std::string finish_reason;
  std::optional<double> cumulative_logprob;               // set when logprobs (or best_of > n) are asked for
  std::optional<std::vector<PositionLogprobs>> logprobs;  // one entry per token, when asked for
  StopReason stop_reason;                                 // stop token id or stop string
};

struct GenerateResult {
  std::string request_id;
  std::optional<std::string> prompt;
  std::vector<int32_t> prompt_token_ids;
  std::vector<CompletionOutput> outputs;  // n of them; with best_of > n, the n best by cumulative logprob
  std::optional<std::vector<std::optional<PositionLogprobs>>> prompt_logprobs;  // entry 0 empty
  int64_t num_cached_tokens = 0;
};

struct GenerateProgress {
  int64_t finished = 0;
  int64_t total = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
};

class LLM {
 public:
  LLM(const std::string& model_path, EngineConfig config = {});
  LLM(ModelBundle bundle, EngineConfig config);

  // `params` holds one SamplingParams for all prompts or one per prompt. Invalid input throws
  // Error(kInvalidArgument) naming the prompt's index before anything runs.
  std::vector<GenerateResult> generate(const std::vector<PromptInput>& prompts,
                                       const std::vector<SamplingParams>& params,
                                       const std::function<void(const GenerateProgress&)>& on_progress = {});

  // Beam search over each prompt, as vLLM's LLM.beam_search (see beam_search.h): all prompts
  // search at once inside the engine, their beams forking and freeing KV blocks. Each result
  // has the num_returned (default beam_width) best beams, best first; a beam ended by EOS keeps
  // it in token_ids (not in text). Throws Error naming the prompt's index for invalid input.
  std::vector<BeamSearchResult> beam_search(const std::vector<PromptInput>& prompts, const BeamSearchParams& params);

  EngineCore& engine() { return engine_; }
  const Tokenizer& tokenizer() const { return *engine_.bundle().tokenizer; }

 private:
  EngineCore engine_;
};

}  // namespace pagellm
