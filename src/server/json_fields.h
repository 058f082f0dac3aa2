#pragma once
// Typed, optional fields of a request body. A field of the wrong type is a 400 naming it; an
// absent or null field is nullopt (OpenAI clients send null for "not set").
#include <optional>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace pagellm::server {

std::optional<double> number_field(const Json& body, const char* name);
std::optional<int64_t> int_field(const Json& body, const char* name);
std::optional<bool> bool_field(const Json& body, const char* name);
std::optional<std::string> string_field(const Json& body, const char* name);
const Json* object_field(const Json& body, const char* name);  // nullptr when absent or null
const Json* array_field(const Json& body, const char* name);
// A string or an array of strings (OpenAI's `stop`).
std::vector<std::string> string_or_list_field(const Json& body, const char* name);
std::vector<int32_t> int_list_field(const Json& body, const char* name);

}  // namespace pagellm::server
