#pragma once
// Each subcommand lives in its own cmd_<name>.cpp: `register_*` adds its flags to the app and
// returns the function main() runs when that subcommand is chosen (exit code).
#include <CLI/CLI.hpp>
#include <functional>

namespace pagellm::cli {

using CommandFn = std::function<int()>;

CommandFn register_generate(CLI::App& app);
CommandFn register_bench(CLI::App& app);
CommandFn register_bench_latency(CLI::App& bench);  // `bench latency`, added by register_bench
CommandFn register_tokenize(CLI::App& app);
CommandFn register_detokenize(CLI::App& app);
CommandFn register_chat_template(CLI::App& app);
CommandFn register_serve(CLI::App& app);

}  // namespace pagellm::cli
