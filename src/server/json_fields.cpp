#include "server/json_fields.h"

#include <cmath>
#include <limits>

#include "server/api_error.h"

namespace pagellm::server {
namespace {

const Json* find(const Json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

[[noreturn]] void wrong_type(const char* name, const char* expected, const Json& value) {
  bad_request(fmt::format("'{}' must be {}, got {}", name, expected, value.type_name()), name);
}

}  // namespace

std::optional<double> number_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "a number", *v);
  return v->get<double>();
}

std::optional<int64_t> int_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  // JSON has one number type; accept 5.0 but not 5.5.
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  wrong_type(name, "an integer", *v);
}

std::optional<bool> bool_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> string_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(name, "a string", *v);
  return v->get<std::string>();
}

const Json* object_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (v && !v->is_object()) wrong_type(name, "an object", *v);
  return v;
}

const Json* array_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (v && !v->is_array()) wrong_type(name, "an array", *v);
  return v;
}

std::vector<std::string> string_or_list_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) wrong_type(name, "a string or an array of strings", *v);
  std::vector<std::string> out;
  for (const Json& s : *v) {
    if (!s.is_string()) wrong_type(name, "a string or an array of strings", s);
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<int32_t> int_list_field(const Json& body, const char* name) {
  const Json* v = find(body, name);
  if (!v) return {};
  if (!v->is_array()) wrong_type(name, "an array of integers", *v);
  std::vector<int32_t> out;
  for (const Json& x : *v) {
    if (!x.is_number_integer() || x.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
        x.get<int64_t>() > std::numeric_limits<int32_t>::max())
      wrong_type(name, "an array of integers", x);
    out.push_back(x.get<int32_t>());
  }
  return out;
}

}  // namespace pagellm::server
