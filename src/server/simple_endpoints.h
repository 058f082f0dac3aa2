#pragma once
// The small endpoints: /v1/models, /tokenize, /detokenize, /version.
#include "server/server_context.h"

namespace pagellm::server {

Json models_response(const ServerContext& ctx);
Json tokenize_response(const ServerContext& ctx, const Json& body);
Json detokenize_response(const ServerContext& ctx, const Json& body);
Json version_response();

}  // namespace pagellm::server
