#pragma once
// After a token is sampled: appends it, detokenizes incrementally, checks the stop conditions
// (EOS unless ignore_eos, stop token ids, max_tokens, the model length) and builds the
// RequestOutput delta; keeps latency statistics.
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine_stats.h"
#include "engine/request.h"
#include "engine/request_output.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace pagellm {

class OutputProcessor {
 public:
  using Clock = std::chrono::steady_clock;

  OutputProcessor(std::shared_ptr<const Tokenizer> tokenizer, std::vector<int32_t> eos_token_ids,
                  int64_t max_model_len);

  void add_request(const Request& request);
  // Appends `token` to the request and returns its output delta; finished() tells whether to free it.
  RequestOutput process_token(Request& request, int32_t token, EngineStats& stats);
  RequestOutput abort(const Request& request, EngineStats& stats);

 private:
  struct Tracked {
    std::unique_ptr<IncrementalDetokenizer> detokenizer;
    Clock::time_point arrival;
    Clock::time_point last_token;
  };
  void finish(Request& request, Tracked& tracked, RequestOutput& out, EngineStats& stats);

  std::shared_ptr<const Tokenizer> tokenizer_;
  std::vector<int32_t> eos_token_ids_;
  int64_t max_model_len_;
  std::unordered_map<std::string, Tracked> tracked_;
};

}  // namespace pagellm
