// `pagellm serve MODEL`: the OpenAI-compatible server, as `vllm serve` runs it.
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "engine/model_bundle.h"
#include "server/api_server.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/logging.h"

namespace pagellm::cli {
namespace {

constexpr int64_t kServeMaxNumBatchedTokens = 512;

struct ServeOptions {
  std::string model;
  server::ServerConfig server;
  std::vector<std::string> served_model_names;
  std::optional<std::string> api_key;
  std::string log_level = "info";
  bool disable_log_requests = false;
  EngineFlags engine;
};

std::shared_ptr<server::ServerContext> load_context(const ServeOptions& o, const server::ServerConfig& config) {
  auto ctx = std::make_shared<server::ServerContext>();
  ctx->config = config;
  ctx->model_path = o.model;
  EngineConfig engine_config = o.engine.to_config();
  ModelBundle bundle = load_model_bundle(o.model, engine_config.dtype, codes_weights(engine_config));
  ctx->tokenizer = bundle.tokenizer;
  if (config.chat_template_file)
    ctx->chat_template.emplace(read_text_file(*config.chat_template_file));
  else if (auto source = bundle.tokenizer->chat_template())
    ctx->chat_template.emplace(*source);
  else
    log_warning("{} has no chat template: /v1/chat/completions needs --chat-template FILE", o.model);
  ctx->sampling_defaults.generation = bundle.files->generation;
  ctx->sampling_defaults.max_logprobs = config.max_logprobs;
  ctx->sampling_defaults.vocab_size = bundle.config().vocab_size;
  engine_config.max_logprobs = config.max_logprobs;
  ctx->engine = std::make_unique<AsyncEngine>(bundle, engine_config);
  ctx->sampling_defaults.max_model_len = ctx->engine->config().scheduler.max_model_len;
  ctx->created = server::unix_time();
  return ctx;
}

int run_serve(ServeOptions& o) {
  set_log_level(parse_log_level(o.log_level));
  server::ServerConfig config = o.server;
  config.served_model_names = o.served_model_names.empty() ? std::vector<std::string>{o.model} : o.served_model_names;
  if (o.api_key)
    config.api_key = o.api_key;
  else if (const char* env = std::getenv("PAGELLM_API_KEY"); env && *env)
    config.api_key = env;
  config.log_requests = !o.disable_log_requests;
  o.engine.to_config();  // flag errors before anything starts

  // Signals are taken by a thread of ours, so every thread started from here on has them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::mutex mutex;
  std::condition_variable signalled;
  int signal_number = 0;
  bool loaded = false;
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::lock_guard<std::mutex> lock(mutex);
    if (!loaded) {  // nothing to drain yet
      log_info("received signal {} while loading: exiting", sig);
      std::_Exit(0);
    }
    signal_number = sig;
    signalled.notify_all();
  });
  signal_thread.detach();

  server::ApiServer api(config);
  api.start();
  log_info("pagellm serving {} on http://{}:{} (503 until the model is loaded)", config.served_model_names.front(),
           config.host, api.port());
  std::shared_ptr<server::ServerContext> ctx;
  try {
    ctx = load_context(o, config);
  } catch (...) {
    api.stop();
    throw;
  }
  api.set_context(ctx);
  log_info("model loaded; ready");
  {
    std::unique_lock<std::mutex> lock(mutex);
    loaded = true;
    signalled.wait(lock, [&] { return signal_number != 0; });
  }
  log_info("received signal {}: draining (grace {} s)", signal_number, config.shutdown_grace_seconds);
  api.begin_shutdown();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_grace_seconds);
  // Done means written: the engine's last output may still be on its way to the client.
  while ((ctx->engine->num_in_flight() > 0 || ctx->open_responses > 0) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ctx->engine->shutdown();  // aborts whatever is left
  api.stop();
  // Where the engine's time went over the server's life (docs/perf/server.md reads this).
  const EngineStats s = ctx->engine->stats();
  log_info("stopped; engine: {} steps, {:.3f} s in steps ({:.3f} s forward, {:.3f} s scheduling), {} tokens generated",
           s.num_steps, s.step_seconds, s.forward_seconds, s.schedule_seconds, s.generation_tokens);
  return 0;
}

}  // namespace

CommandFn register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("model", o->model, "HF model directory or .gguf file")->required();
  cmd->add_option("--host", o->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port to listen on (0: any free port)")->capture_default_str();
  cmd->add_option("--served-model-name", o->served_model_names,
                  "Model name(s) clients use in the 'model' field (default: the model path)");
  cmd->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on /v1 routes (or PAGELLM_API_KEY)");
  cmd->add_option("--chat-template", o->server.chat_template_file,
                  "Jinja chat template file (default: the model's tokenizer_config.json / GGUF template)");
  cmd->add_option("--max-logprobs", o->server.max_logprobs, "Most logprobs a request may ask for")
      ->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "debug, info, warning, error or off")->capture_default_str();
  cmd->add_flag("--disable-log-requests", o->disable_log_requests, "Do not log each request");
  cmd->add_option("--max-request-body", o->server.max_body_bytes, "Largest request body in bytes (413 above)")
      ->capture_default_str();
  cmd->add_option("--http-timeout", o->server.read_timeout_seconds,
                  "Seconds a client may stay silent while sending a request")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", o->server.shutdown_grace_seconds,
                  "Seconds SIGINT/SIGTERM waits for running requests before aborting them")
      ->capture_default_str();
  // Serving on a CPU: a 512-token step mixes each new prompt's prefill with the running requests'
  // decode, so they stream sooner (TTFT p50 1.6 s against 2.5-3 s with 2048 for 16 clients of a 0.5B
  // model on 2 cores, same or better throughput: docs/perf/cpu_targets.md).
  o->engine.max_num_batched_tokens = kServeMaxNumBatchedTokens;
  add_engine_flags(*cmd, o->engine);
  return [o] { return run_serve(*o); };
}

}  // namespace pagellm::cli
