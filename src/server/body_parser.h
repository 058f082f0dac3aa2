#pragma once
#include <string>

#include "util/json_file.h"

namespace pagellm::server {

// Parses a request body as a JSON object, refusing nesting deeper than `max_depth` before the
// (recursive) parser sees it. Throws ApiError(400) saying what is wrong and where.
Json parse_request_body(const std::string& body, int max_depth);

}  // namespace pagellm::server
