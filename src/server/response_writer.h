#pragma once
// Sends a GenerationGroup's results: one JSON body when it is done, or an SSE stream of chunks.
// Both wait through httplib's content provider, which checks the socket between deltas, so a
// client that disconnects aborts its requests at once (streaming or not).
#include <httplib.h>

#include <memory>

#include "server/generation_group.h"
#include "server/server_context.h"
#include "util/json_file.h"

namespace pagellm::server {

// The endpoint-specific shapes (text_completion vs chat.completion).
class ResponseFormat {
 public:
  virtual ~ResponseFormat() = default;
  // Chunks (zero or more) for one delta of one choice; `first` is that choice's first delta.
  virtual std::vector<Json> stream_chunks(const GenerationGroup& group, const Choice& choice,
                                          const RequestOutput& delta, bool first) const = 0;
  virtual Json final_response(const GenerationGroup& group) const = 0;
  virtual Json usage_chunk(const GenerationGroup& group) const = 0;
};

Json usage_json(const GenerationGroup& group);

// Counts itself in ctx.open_responses until the response is written (or the client is gone).
void send_generation(const ServerContext& ctx, httplib::Response& res, std::shared_ptr<GenerationGroup> group,
                     std::shared_ptr<const ResponseFormat> format, bool stream, bool include_usage);

}  // namespace pagellm::server
