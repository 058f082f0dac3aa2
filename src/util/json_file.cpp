#include "util/json_file.h"

#include <fstream>
#include <sstream>

#include "util/error.h"

namespace pagellm {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kNotFound, "{}: cannot open file", path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Json read_json_file(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorCode::kInvalidModel, "{}: invalid JSON: {}", path, e.what());
  }
}

}  // namespace pagellm
