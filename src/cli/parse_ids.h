#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pagellm::cli {

// "1,2, 3" -> {1, 2, 3}; throws Error(kInvalidArgument) naming `flag` on anything else.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& flag);

}  // namespace pagellm::cli
