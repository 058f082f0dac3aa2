#pragma once
// POST /v1/completions.
#include <httplib.h>

#include "server/server_context.h"

namespace pagellm::server {

void handle_completions(const ServerContext& ctx, const Json& body, const std::string& request_id,
                        httplib::Response& res);

// Shared by completions and chat: prompt + max_tokens must fit the context (vLLM's message).
void check_context_length(const ServerContext& ctx, int64_t prompt_tokens, int64_t max_tokens, const char* where);

}  // namespace pagellm::server
