// pagellm's command line: parses flags and hands off to one subcommand (cmd_*.cpp).
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "pagellm_version.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"pagellm: serve and run Llama-family language models with a paged KV cache", "pagellm"};
  app.set_version_flag("--version,-V", std::string("pagellm ") + PAGELLM_VERSION);
  app.require_subcommand(1);
  std::map<CLI::App*, pagellm::cli::CommandFn> commands;
  auto add = [&](pagellm::cli::CommandFn (*registrar)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    pagellm::cli::CommandFn fn = registrar(app);
    commands[app.get_subcommands({})[before]] = std::move(fn);
  };
  add(pagellm::cli::register_generate);
  add(pagellm::cli::register_bench);
  add(pagellm::cli::register_tokenize);
  add(pagellm::cli::register_detokenize);
  add(pagellm::cli::register_chat_template);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version exit 0; any usage error exits 2 (bad input inside a command exits 1).
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, fn] : commands)
      if (sub->parsed()) return fn();
  } catch (const pagellm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}
