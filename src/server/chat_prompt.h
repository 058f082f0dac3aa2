#pragma once
// Turns an OpenAI messages list into the prompt text with the model's chat template, as vLLM
// does: text parts joined, tool-call arguments given to the template as objects, and
// continue_final_message handled as transformers does. Shared by chat completions and /tokenize.
#include <string>

#include "server/server_context.h"

namespace pagellm::server {

struct ChatPromptOptions {
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  Json tools;            // null when absent
  Json template_kwargs;  // chat_template_kwargs
};

// Reads add_generation_prompt, continue_final_message, tools and chat_template_kwargs from a body.
ChatPromptOptions chat_prompt_options(const Json& body);
std::string render_chat_prompt(const ServerContext& ctx, const Json& messages, const ChatPromptOptions& options);

}  // namespace pagellm::server
