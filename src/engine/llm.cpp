#include "engine/llm.h"

#include <algorithm>
#include <unordered_map>

#include "util/error.h"

namespace pagellm {

LLM::LLM(const std::string& model_path, EngineConfig config)
    : LLM(load_model_bundle(model_path, config.dtype, codes_weights(config)), config) {}

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
    const SamplingParams& sp = params[params.size() == 1 ? 0 : i];
    // A beam search returns its n best beams; otherwise every generated sequence comes back.
    r.outputs.resize(static_cast<size_t>(std::max<int64_t>(1, sp.use_beam_search ? sp.n : sp.num_sequences())));
    for (size_t k = 0; k < r.outputs.size(); ++k) {
      r.outputs[k].index = static_cast<int64_t>(k);
      if (sp.logprobs) r.outputs[k].logprobs.emplace();
    }
    requests.push_back(std::make_shared<Request>(r.request_id, r.prompt_token_ids, sp));
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
      if (out.finish_reason == "abort") {  // an abort ends every sequence
        for (CompletionOutput& c : r.outputs)
          if (c.finish_reason.empty()) c.finish_reason = "abort";
      } else {
        CompletionOutput& c = r.outputs.at(static_cast<size_t>(out.index));
        c.token_ids.insert(c.token_ids.end(), out.new_token_ids.begin(), out.new_token_ids.end());
        c.text += out.new_text;
        if (c.logprobs) c.logprobs->insert(c.logprobs->end(), out.new_logprobs.begin(), out.new_logprobs.end());
        if (out.cumulative_logprob) c.cumulative_logprob = out.cumulative_logprob;
        if (out.prompt_logprobs) r.prompt_logprobs = std::move(out.prompt_logprobs);
        if (!out.finish_reason.empty()) {
          c.finish_reason = out.finish_reason;
          c.stop_reason = out.stop_reason;
        }
      }
      progress.generated_tokens += static_cast<int64_t>(out.new_token_ids.size());
      if (out.finished) {
        r.num_cached_tokens = out.num_cached_tokens;
        ++progress.finished;
      }
    }
    progress.prompt_tokens = engine_.stats().prompt_tokens;
    if (on_progress) on_progress(progress);
  }
  // best_of > n: keep the n sequences with the highest cumulative logprob (stable: index order on ties).
  for (size_t i = 0; i < results.size(); ++i) {
    const SamplingParams& sp = params[params.size() == 1 ? 0 : i];
    std::vector<CompletionOutput>& outs = results[i].outputs;
    if (static_cast<int64_t>(outs.size()) <= sp.n) continue;
    std::stable_sort(outs.begin(), outs.end(), [](const CompletionOutput& a, const CompletionOutput& b) {
      return a.cumulative_logprob.value_or(0) > b.cumulative_logprob.value_or(0);
    });
    outs.resize(static_cast<size_t>(sp.n));
    for (size_t k = 0; k < outs.size(); ++k) {
      outs[k].index = static_cast<int64_t>(k);
      if (!sp.logprobs) outs[k].cumulative_logprob.reset();
    }
  }
  return results;
}

std::vector<BeamSearchResult> LLM::beam_search(const std::vector<PromptInput>& prompts,
                                               const BeamSearchParams& params) {
  BeamSearchParams bp = params;
  bp.include_stop_str_in_output = true;  // vLLM's LLM.beam_search keeps the EOS in the tokens
  std::vector<BeamSearchResult> results(prompts.size());
  std::vector<int64_t> prompt_lens;
  std::unordered_map<std::string, size_t> index_of;
  std::vector<std::string> added;
  try {
    for (size_t i = 0; i < prompts.size(); ++i) {
      const PromptInput& p = prompts[i];
      const std::string id = p.request_id.value_or(std::to_string(i));
      if (index_of.contains(id)) fail(ErrorCode::kInvalidArgument, "request_id '{}' is used twice", id);
      std::vector<int32_t> ids = p.text ? tokenizer().encode(*p.text, true) : p.token_ids;
      prompt_lens.push_back(static_cast<int64_t>(ids.size()));
      try {
        engine_.add_beam_search(std::make_shared<Request>(id, std::move(ids), SamplingParams{}), bp);
      } catch (const Error& e) {
        fail(e.code(), "prompt {}: {}", i, e.what());
      }
      index_of[id] = i;
      added.push_back(id);
    }
  } catch (const Error&) {
    for (const std::string& id : added) engine_.abort_request(id);
    while (engine_.has_unfinished()) engine_.step();  // drain the abort outputs
    throw;
  }
  // All prompts search at once, batched like any other requests.
  while (engine_.has_unfinished()) {
    for (RequestOutput& out : engine_.step()) {
      const size_t i = index_of.at(out.request_id);
      std::vector<BeamSequence>& seqs = results[i].sequences;
      if (seqs.size() <= static_cast<size_t>(out.index)) seqs.resize(static_cast<size_t>(out.index) + 1);
      BeamSequence& s = seqs[static_cast<size_t>(out.index)];
      s.token_ids = std::move(out.new_token_ids);
      s.text = std::move(out.new_text);
      s.cumulative_logprob = out.cumulative_logprob.value_or(0);
      s.finish_reason = out.finish_reason;
      s.logprobs = std::move(out.new_logprobs);
      const int64_t length =
          prompt_lens[i] + static_cast<int64_t>(s.token_ids.size()) - (s.finish_reason == "stop" ? 1 : 0);
      s.score = beam_score(s.cumulative_logprob, length, bp.length_penalty);
    }
  }
  return results;
}

}  // namespace pagellm
