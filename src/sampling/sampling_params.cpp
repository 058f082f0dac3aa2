#include "sampling/sampling_params.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace pagellm {
namespace {

void check_id(int32_t id, int64_t vocab_size, const char* field) {
  if (id < 0 || (vocab_size >= 0 && id >= vocab_size))
    fail(ErrorCode::kInvalidArgument, "{} contains token id {}, out of range for vocabulary size {}", field, id,
         vocab_size);
}

void check_range(double v, double lo, double hi, const char* field) {
  if (!(v >= lo && v <= hi)) fail(ErrorCode::kInvalidArgument, "{} must be in [{}, {}], got {}", field, lo, hi, v);
}

// --- JSON readers: each names its field on a type error --------------------------------------

[[noreturn]] void wrong_type(const std::string& field, const char* want, const Json& v) {
  fail(ErrorCode::kInvalidArgument, "{} must be {}, got {}", field, want, v.type_name());
}

double read_number(const std::string& field, const Json& v) {
  if (!v.is_number()) wrong_type(field, "a number", v);
  return v.get<double>();
}

int64_t read_int(const std::string& field, const Json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  // 2.0 is accepted as 2 (JSON encoders write floats for integral values sometimes).
  if (v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>() &&
      std::fabs(v.get<double>()) < 9e15)
    return static_cast<int64_t>(v.get<double>());
  wrong_type(field, "an integer", v);
}

int32_t read_id(const std::string& field, const Json& v) {
  const int64_t id = read_int(field, v);
  if (id < 0 || id > std::numeric_limits<int32_t>::max())
    fail(ErrorCode::kInvalidArgument, "{} contains token id {}, out of range", field, id);
  return static_cast<int32_t>(id);
}

bool read_bool(const std::string& field, const Json& v) {
  if (!v.is_boolean()) wrong_type(field, "a boolean", v);
  return v.get<bool>();
}

std::vector<int32_t> read_ids(const std::string& field, const Json& v) {
  if (!v.is_array()) wrong_type(field, "an array of token ids", v);
  std::vector<int32_t> ids;
  for (size_t i = 0; i < v.size(); ++i) ids.push_back(read_id(field + "[" + std::to_string(i) + "]", v[i]));
  return ids;
}

std::vector<std::string> read_strings(const std::string& field, const Json& v, bool allow_single) {
  if (allow_single && v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) wrong_type(field, allow_single ? "a string or an array of strings" : "an array of strings", v);
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) wrong_type(field + "[" + std::to_string(i) + "]", "a string", v[i]);
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

}  // namespace

uint64_t derive_seed(uint64_t seed, int64_t index) {
  if (index == 0) return seed;
  // splitmix64 of (seed, index): distinct, well-mixed streams per sequence.
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void SamplingParams::validate(int64_t vocab_size, int64_t max_logprobs) const {
  if (n < 1) fail(ErrorCode::kInvalidArgument, "n must be at least 1, got {}", n);
  if (best_of && *best_of < n)
    fail(ErrorCode::kInvalidArgument, "best_of must be greater than or equal to n, got n={} and best_of={}", n,
         *best_of);
  check_range(presence_penalty, -2.0, 2.0, "presence_penalty");
  check_range(frequency_penalty, -2.0, 2.0, "frequency_penalty");
  if (!(repetition_penalty > 0.0) || !std::isfinite(repetition_penalty))
    fail(ErrorCode::kInvalidArgument, "repetition_penalty must be greater than zero, got {}", repetition_penalty);
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    fail(ErrorCode::kInvalidArgument, "temperature must be non-negative, got {}", temperature);
  if (!(top_p > 0.0 && top_p <= 1.0)) fail(ErrorCode::kInvalidArgument, "top_p must be in (0, 1], got {}", top_p);
  if (top_k < -1) fail(ErrorCode::kInvalidArgument, "top_k must be -1 (disable), 0 or at least 1, got {}", top_k);
  check_range(min_p, 0.0, 1.0, "min_p");
  if (max_tokens < 1) fail(ErrorCode::kInvalidArgument, "max_tokens must be at least 1, got {}", max_tokens);
  if (min_tokens < 0) fail(ErrorCode::kInvalidArgument, "min_tokens must be non-negative, got {}", min_tokens);
  if (min_tokens > max_tokens)
    fail(ErrorCode::kInvalidArgument, "min_tokens must be less than or equal to max_tokens={}, got {}", max_tokens,
         min_tokens);
  if (logprobs && (*logprobs < 0 || *logprobs > max_logprobs))
    fail(ErrorCode::kInvalidArgument, "logprobs must be between 0 and {} (max_logprobs), got {}", max_logprobs,
         *logprobs);
  if (prompt_logprobs && (*prompt_logprobs < 0 || *prompt_logprobs > max_logprobs))
    fail(ErrorCode::kInvalidArgument, "prompt_logprobs must be between 0 and {} (max_logprobs), got {}", max_logprobs,
         *prompt_logprobs);
  for (const std::string& s : stop)
    if (s.empty()) fail(ErrorCode::kInvalidArgument, "stop cannot contain an empty string");
  if (!stop.empty() && !detokenize)
    fail(ErrorCode::kInvalidArgument, "stop strings are only supported when detokenize is true");
  for (int32_t id : stop_token_ids) check_id(id, vocab_size, "stop_token_ids");
  for (const auto& [id, bias] : logit_bias) {
    check_id(id, vocab_size, "logit_bias");
    if (!std::isfinite(bias)) fail(ErrorCode::kInvalidArgument, "logit_bias for token {} must be finite", id);
  }
  if (allowed_token_ids) {
    if (allowed_token_ids->empty()) fail(ErrorCode::kInvalidArgument, "allowed_token_ids must not be empty");
    for (int32_t id : *allowed_token_ids) check_id(id, vocab_size, "allowed_token_ids");
  }
  for (const auto& word : bad_words_token_ids) {
    if (word.empty()) fail(ErrorCode::kInvalidArgument, "bad_words cannot contain an empty word");
    for (int32_t id : word) check_id(id, vocab_size, "bad_words");
  }
  if (!std::isfinite(length_penalty))
    fail(ErrorCode::kInvalidArgument, "length_penalty must be finite, got {}", length_penalty);
  if (!use_beam_search && early_stopping != EarlyStopping::kFalse) {
    fail(ErrorCode::kInvalidArgument, "early_stopping is only valid with use_beam_search");
  }
}

SamplingParams SamplingParams::from_json(const Json& json) {
  if (!json.is_object()) wrong_type("sampling parameters", "a JSON object", json);
  SamplingParams p;
  for (const auto& [key, v] : json.items()) {
    if (v.is_null()) {
      if (key == "max_tokens") p.max_tokens = std::numeric_limits<int64_t>::max();
      continue;
    }
    if (key == "n")
      p.n = read_int(key, v);
    else if (key == "best_of")
      p.best_of = read_int(key, v);
    else if (key == "presence_penalty")
      p.presence_penalty = read_number(key, v);
    else if (key == "frequency_penalty")
      p.frequency_penalty = read_number(key, v);
    else if (key == "repetition_penalty")
      p.repetition_penalty = read_number(key, v);
    else if (key == "temperature")
      p.temperature = read_number(key, v);
    else if (key == "top_p")
      p.top_p = read_number(key, v);
    else if (key == "top_k")
      p.top_k = read_int(key, v);
    else if (key == "min_p")
      p.min_p = read_number(key, v);
    else if (key == "seed") {
      const int64_t s = read_int(key, v);
      p.seed = static_cast<uint64_t>(s);
    } else if (key == "stop")
      p.stop = read_strings(key, v, true);
    else if (key == "stop_token_ids")
      p.stop_token_ids = read_ids(key, v);
    else if (key == "include_stop_str_in_output")
      p.include_stop_str_in_output = read_bool(key, v);
    else if (key == "ignore_eos")
      p.ignore_eos = read_bool(key, v);
    else if (key == "max_tokens")
      p.max_tokens = read_int(key, v);
    else if (key == "min_tokens")
      p.min_tokens = read_int(key, v);
    else if (key == "logprobs") {
      // OpenAI chat uses a boolean here (with top_logprobs); vLLM's SamplingParams an integer.
      if (v.is_boolean()) {
        if (v.get<bool>() && !p.logprobs) p.logprobs = 0;
      } else {
        p.logprobs = read_int(key, v);
      }
    } else if (key == "top_logprobs")
      p.logprobs = read_int(key, v);
    else if (key == "prompt_logprobs")
      p.prompt_logprobs = read_int(key, v);
    else if (key == "detokenize")
      p.detokenize = read_bool(key, v);
    else if (key == "skip_special_tokens")
      p.skip_special_tokens = read_bool(key, v);
    else if (key == "spaces_between_special_tokens")
      p.spaces_between_special_tokens = read_bool(key, v);
    else if (key == "logit_bias") {
      if (!v.is_object()) wrong_type(key, "an object of token id -> bias", v);
      for (const auto& [id_str, bias] : v.items()) {
        const std::string field = key + "[" + id_str + "]";
        size_t used = 0;
        long long id = -1;
        try {
          id = std::stoll(id_str, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != id_str.size() || id < 0 || id > std::numeric_limits<int32_t>::max())
          fail(ErrorCode::kInvalidArgument, "logit_bias key '{}' is not a token id", id_str);
        p.logit_bias[static_cast<int32_t>(id)] = std::clamp(read_number(field, bias), -100.0, 100.0);
      }
    } else if (key == "allowed_token_ids")
      p.allowed_token_ids = read_ids(key, v);
    else if (key == "bad_words")
      p.bad_words = read_strings(key, v, false);
    else if (key == "use_beam_search")
      p.use_beam_search = read_bool(key, v);
    else if (key == "length_penalty")
      p.length_penalty = read_number(key, v);
    else if (key == "early_stopping") {
      if (v.is_boolean())
        p.early_stopping = v.get<bool>() ? EarlyStopping::kTrue : EarlyStopping::kFalse;
      else if (v.is_string() && v.get<std::string>() == "never")
        p.early_stopping = EarlyStopping::kNever;
      else
        wrong_type(key, "a boolean or \"never\"", v);
    }
    // Anything else (model, prompt, stream, ...) belongs to the caller: ignored here.
  }
  return p;
}

}  // namespace pagellm
