#pragma once
// Reading JSON files with errors that name the file (and, through json_field helpers, the field).
#include <nlohmann/json.hpp>
#include <string>

namespace pagellm {

using Json = nlohmann::ordered_json;

// Parses the whole file; throws Error(kNotFound) if missing, Error(kInvalidModel) if not valid JSON.
Json read_json_file(const std::string& path);

std::string read_text_file(const std::string& path);  // throws Error(kNotFound) naming the path

}  // namespace pagellm
