#pragma once
// Hugging Face chat templates: render a conversation to the prompt text exactly as transformers'
// apply_chat_template(..., tokenize=False) does (Jinja2 sandbox, trim_blocks, lstrip_blocks, json.dumps tojson).
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "chat/template_error.h"
#include "util/json_file.h"

namespace pagellm {

namespace jinja {
struct TemplateAst;
}

struct ChatTemplateInputs {
  Json messages;
  Json tools;      // null when absent (the template sees None)
  Json documents;  // null when absent
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token, eos_token;  // nullopt: the variable is not defined
  Json extra_context = Json::object();              // chat_template_kwargs, each key a template variable
};

class ChatTemplate {
 public:
  // Parses once; throws Error(kInvalidArgument) "chat template line L, column C: ..." on a syntax error.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = default;
  ChatTemplate& operator=(const ChatTemplate&) = default;
  ChatTemplate(ChatTemplate&&) noexcept = default;
  ChatTemplate& operator=(ChatTemplate&&) noexcept = default;

  // Thread-safe for concurrent calls. Throws TemplateError (what() == the template's message) for
  // raise_exception(), and Error(kInvalidArgument) "chat template line L, column C: ..." for other failures.
  std::string render(const ChatTemplateInputs& in) const;

  // Clock behind strftime_now(); defaults to local time.
  void set_clock(std::function<std::tm()> now);

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::shared_ptr<const jinja::TemplateAst> ast_;
  std::function<std::tm()> clock_;
};

}  // namespace pagellm
