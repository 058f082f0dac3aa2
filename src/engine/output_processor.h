#pragma once
// After a token is sampled: appends it, detokenizes incrementally, checks the stop conditions
// (EOS unless ignore_eos, stop token ids, stop strings, max_tokens, the model length; none but
// the lengths before min_tokens) and builds the RequestOutput delta; keeps latency statistics.
//
// Stop strings may span tokens. The text that could still turn out to be the start of a stop
// string (the longest tail of the text that is a proper prefix of one) is held back from the
// stream until the next token settles it, so a stream never shows text a stop string later
// removes. The earliest match wins (ties: the first in `stop`); it and everything after it are
// cut unless include_stop_str_in_output. Token ids are never cut.
#include <chrono>
#include <memory>
#include <optional>
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
  // Appends `token` (with its logprobs entry, when asked for) to the request and returns its
  // output delta; a non-empty finish_reason says the sequence is done and may be freed.
  RequestOutput process_token(Request& request, int32_t token, std::optional<PositionLogprobs> logprobs,
                              EngineStats& stats);
  // The final output of an aborted sequence; the caller counts it in the stats.
  RequestOutput abort(const Request& request);
  void forget(const std::string& id) { tracked_.erase(id); }
  // Fills each entry's decoded_token: the token decoded alone, special tokens kept (vLLM).
  void decode_logprobs(PositionLogprobs& lp) const;

  // The longest tail of `text` that is a proper prefix of one of `stops` (bytes).
  static size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops);
  // The earliest match of a stop string starting at or after `from`: {position, index in stops}.
  static std::optional<std::pair<size_t, size_t>> find_stop(const std::string& text, size_t from,
                                                            const std::vector<std::string>& stops);

 private:
  struct Tracked {
    std::unique_ptr<IncrementalDetokenizer> detokenizer;
    std::string text;    // output text so far (stop tokens' text excluded)
    int64_t chars = 0;   // code points in `text` (logprobs' text offsets)
    size_t emitted = 0;  // bytes of `text` already sent
    size_t max_stop_len = 0;
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
