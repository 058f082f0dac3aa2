#pragma once
// POST /v1/chat/completions.
#include <httplib.h>

#include "server/server_context.h"

namespace pagellm::server {

void handle_chat_completions(const ServerContext& ctx, const Json& body, const std::string& request_id,
                             httplib::Response& res);

}  // namespace pagellm::server
