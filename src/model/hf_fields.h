#pragma once
// Typed access to the fields of HF JSON configs (config.json, generation_config.json).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/json_file.h"

namespace pagellm {

// Typed access to config.json fields: absent or null -> fallback; wrong type -> kInvalidModel
// naming the field (a float where an integer belongs is wrong, not silently truncated).
class HfFields {
 public:
  HfFields(const Json& j, const std::string& source) : j_(j), source_(source) {}

  const Json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  int64_t integer(const char* key, std::optional<int64_t> fallback = std::nullopt) const {
    const Json* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      fail(ErrorCode::kInvalidModel, "{}: missing field {}", source_, key);
    }
    if (!v->is_number_integer()) fail(ErrorCode::kInvalidModel, "{}: field {} must be an integer", source_, key);
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail(ErrorCode::kInvalidModel, "{}: field {} is out of range", source_, key);
    return v->get<int64_t>();
  }
  double number(const char* key, std::optional<double> fallback = std::nullopt) const {
    const Json* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      fail(ErrorCode::kInvalidModel, "{}: missing field {}", source_, key);
    }
    if (!v->is_number()) fail(ErrorCode::kInvalidModel, "{}: field {} must be a number", source_, key);
    return v->get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    const Json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(ErrorCode::kInvalidModel, "{}: field {} must be true or false", source_, key);
    return v->get<bool>();
  }
  std::string string(const char* key) const {
    const Json* v = find(key);
    if (!v) return "";
    if (!v->is_string()) fail(ErrorCode::kInvalidModel, "{}: field {} must be a string", source_, key);
    return v->get<std::string>();
  }

 private:
  const Json& j_;
  const std::string& source_;
};

inline int32_t token_id(const Json& v, const std::string& source, const char* key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
    fail(ErrorCode::kInvalidModel, "{}: field {} must be a non-negative token id", source, key);
  return static_cast<int32_t>(v.get<int64_t>());
}

// An int or a list of ints (eos_token_id), appended to `out`.
inline void token_ids(const Json& v, const std::string& source, const char* key, std::vector<int32_t>* out) {
  if (v.is_array()) {
    for (const Json& e : v) out->push_back(token_id(e, source, key));
  } else {
    out->push_back(token_id(v, source, key));
  }
}

}  // namespace pagellm
