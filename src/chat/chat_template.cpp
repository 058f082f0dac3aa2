#include "chat/chat_template.h"

#include "chat/jinja_interpreter.h"
#include "chat/jinja_parser.h"

namespace pagellm {

namespace {
std::tm local_now() {
  std::time_t t = std::time(nullptr);
  std::tm out{};
  localtime_r(&t, &out);
  return out;
}
}  // namespace

ChatTemplate::ChatTemplate(std::string source)
    : source_(std::move(source)),
      ast_(std::make_shared<const jinja::TemplateAst>(jinja::parse_template(source_))),
      clock_(local_now) {}

ChatTemplate::~ChatTemplate() = default;

void ChatTemplate::set_clock(std::function<std::tm()> now) { clock_ = std::move(now); }

std::string ChatTemplate::render(const ChatTemplateInputs& in) const {
  using jinja::Value;
  jinja::RenderEnv env;
  env.clock = clock_;
  env.variables.emplace_back("messages", Value::from_json(in.messages));
  env.variables.emplace_back("tools", Value::from_json(in.tools));
  env.variables.emplace_back("documents", Value::from_json(in.documents));
  env.variables.emplace_back("add_generation_prompt", Value::boolean(in.add_generation_prompt));
  if (in.bos_token) env.variables.emplace_back("bos_token", Value::string_ref(*in.bos_token));
  if (in.eos_token) env.variables.emplace_back("eos_token", Value::string_ref(*in.eos_token));
  if (!in.extra_context.is_null()) {
    if (!in.extra_context.is_object()) fail(ErrorCode::kInvalidArgument, "chat template kwargs must be a JSON object");
    for (const auto& [key, value] : in.extra_context.get_ref<const Json::object_t&>()) {
      for (const auto& [k, v] : env.variables)
        if (k == key)
          fail(ErrorCode::kInvalidArgument, "chat template kwarg '{}' conflicts with a built-in variable", key);
      env.variables.emplace_back(key, Value::from_json(value));
    }
  }
  return jinja::render_ast(*ast_, env);
}

}  // namespace pagellm
