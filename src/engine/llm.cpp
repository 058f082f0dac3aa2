#include "engine/llm.h"

#include <unordered_map>

#include "util/error.h"

namespace pagellm {

LLM::LLM(const std::string& model_path, EngineConfig config) : LLM(load_model_bundle(model_path), config) {}

LLM::LLM(ModelBundle bundle, EngineConfig config) : engine_(std::move(bundle), config) {}

std::vector<GenerateResult> LLM::generate(const std::vector<PromptInput>& prompts,
                                          const std::vector<SamplingParams>& params,
                                          const std::function<void(const GenerateProgress&)>& on_progress) {
  if (params.size() != 1 && params.size() != prompts.size())
    fail(ErrorCode::kInvalidArgument, "got {} sampling params for {} prompts (give 1 or one per prompt)", params.size(),
         prompts.size());
  std::vector<GenerateResult> results(prompts.size());
  std::vector<std::shared_ptr<Request>> requests;
  std::unordered_map<std::string, size_t> index_of;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const PromptInput& p = prompts[i];
    GenerateResult& r = results[i];
    r.request_id = p.request_id.value_or(std::to_string(i));
    r.prompt = p.text;
    r.prompt_token_ids = p.text ? tokenizer().encode(*p.text, true) : p.token_ids;
    if (index_of.contains(r.request_id))
      fail(ErrorCode::kInvalidArgument, "prompt {}: request_id '{}' is used twice", i, r.request_id);
    index_of[r.request_id] = i;
    r.outputs.push_back({0, "", {}, "", std::nullopt});
    requests.push_back(std::make_shared<Request>(r.request_id, r.prompt_token_ids, params[params.size() == 1 ? 0 : i]));
  }
  size_t added = 0;
  try {
    for (; added < requests.size(); ++added) engine_.add_request(requests[added]);
  } catch (const Error& e) {
    for (size_t j = 0; j < added; ++j) engine_.abort_request(requests[j]->id);
    while (engine_.has_unfinished()) engine_.step();  // drain the abort outputs
    fail(e.code(), "prompt {}: {}", added, e.what());
  }

  GenerateProgress progress{0, static_cast<int64_t>(prompts.size()), 0, 0};
  while (engine_.has_unfinished()) {
    for (RequestOutput& out : engine_.step()) {
      GenerateResult& r = results[index_of.at(out.request_id)];
      CompletionOutput& c = r.outputs[0];
      c.token_ids.insert(c.token_ids.end(), out.new_token_ids.begin(), out.new_token_ids.end());
      c.text += out.new_text;
      progress.generated_tokens += static_cast<int64_t>(out.new_token_ids.size());
      if (out.finished) {
        c.finish_reason = out.finish_reason;
        r.num_cached_tokens = out.num_cached_tokens;
        ++progress.finished;
      }
    }
    progress.prompt_tokens = engine_.stats().prompt_tokens;
    if (on_progress) on_progress(progress);
  }
  return results;
}

}  // namespace pagellm
