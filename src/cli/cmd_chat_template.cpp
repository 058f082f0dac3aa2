// `pagellm chat-template`: render a conversation with a model's (or a file's) chat template,
// exactly as transformers' apply_chat_template(tokenize=False) would, with no newline added.
#include <cstdio>
#include <optional>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

struct ChatTemplateOptions {
  std::optional<std::string> model;
  std::optional<std::string> template_file;
  std::string messages_file;
  std::optional<std::string> tools_file;
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> kwargs_json;
};

int run(const ChatTemplateOptions& o) {
  ChatTemplateInputs in;
  std::string source;
  if (o.model) {
    auto tokenizer = load_tokenizer(*o.model);
    std::optional<std::string> from_model = tokenizer->chat_template();
    if (!o.template_file && !from_model)
      fail(ErrorCode::kNotFound, "{}: the model has no chat template; pass one with --template", *o.model);
    if (from_model) source = *from_model;
    in.bos_token = tokenizer->bos_token();
    in.eos_token = tokenizer->eos_token();
  }
  if (o.template_file) source = read_text_file(*o.template_file);
  if (o.bos_token) in.bos_token = o.bos_token;
  if (o.eos_token) in.eos_token = o.eos_token;
  in.messages = read_json_file(o.messages_file);
  if (!in.messages.is_array()) fail(ErrorCode::kInvalidArgument, "{}: messages must be a JSON array", o.messages_file);
  in.tools = o.tools_file ? read_json_file(*o.tools_file) : Json(nullptr);
  in.add_generation_prompt = o.add_generation_prompt;
  if (o.kwargs_json) {
    Json kwargs = Json::parse(*o.kwargs_json, nullptr, /*allow_exceptions=*/false);
    if (!kwargs.is_object())
      fail(ErrorCode::kInvalidArgument, "--kwargs must be a JSON object, e.g. '{{\"enable_thinking\": false}}'");
    in.extra_context = std::move(kwargs);
  }
  const std::string text = ChatTemplate(source).render(in);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

CommandFn register_chat_template(CLI::App& app) {
  auto o = std::make_shared<ChatTemplateOptions>();
  CLI::App* cmd = app.add_subcommand("chat-template", "Render a conversation with a chat template (no newline added)");
  auto* model = cmd->add_option("--model,-m", o->model, "Model whose tokenizer_config.json / GGUF holds the template");
  auto* file = cmd->add_option("--template", o->template_file, "A Jinja template file (overrides the model's)");
  cmd->add_option("--messages", o->messages_file, "JSON file with the messages array")->required();
  cmd->add_option("--tools", o->tools_file, "JSON file with the tools array");
  cmd->add_flag("--add-generation-prompt", o->add_generation_prompt, "End with the assistant turn's opening");
  cmd->add_option("--bos-token", o->bos_token, "bos_token variable (default: the model's)");
  cmd->add_option("--eos-token", o->eos_token, "eos_token variable (default: the model's)");
  cmd->add_option("--kwargs", o->kwargs_json,
                  "JSON object of extra template variables, as the API's chat_template_kwargs (e.g. enable_thinking)");
  cmd->callback([model, file] {
    if (model->count() + file->count() == 0) throw CLI::RequiredError("one of --model or --template");
  });
  return [o] { return run(*o); };
}

}  // namespace pagellm::cli
