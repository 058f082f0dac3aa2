// use_beam_search through /v1/completions and /v1/chat/completions: the choices equal the
// offline LLM::beam_search result (itself tested against exhaustive search), streaming or not;
// other requests are served while a search runs; a client that goes away frees every block.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "engine/llm.h"
#include "http_test_util.h"
#include "server_process.h"
#include "test_paths.h"

namespace pagellm {
namespace {

using test::http_request;
using test::HttpReply;

const std::string kModel = test::shared_dir() + "/models/stories260K/stories260K.gguf";

class HttpBeamSearch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ =
        new test::ServerProcess({kModel, "--served-model-name", "demo", "--max-model-len", "256", "--kv-cache-memory",
                                 "64MiB", "--chat-template", test::source_dir() + "/tests/node/fixtures/chatml.jinja"});
    EngineConfig config;
    config.scheduler.max_model_len = 256;
    config.num_kv_blocks = 512;
    llm_ = new LLM(kModel, config);
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0);
    delete server_;
    delete llm_;
  }
  static HttpReply post(const std::string& path, const Json& body) {
    return http_request(server_->port(), "POST", path, body.dump());
  }
  static std::string metrics() { return http_request(server_->port(), "GET", "/metrics").body; }
  // Polls /metrics until nothing runs, waits or holds KV blocks; returns the last scrape.
  static std::string wait_idle() {
    std::string m;
    for (int i = 0; i < 200; ++i) {
      m = metrics();
      if (test::metrics_value(m, "vllm:num_requests_running") == Json(0.0) &&
          test::metrics_value(m, "vllm:num_requests_waiting") == Json(0.0) &&
          test::metrics_value(m, "vllm:kv_cache_usage_perc") == Json(0.0))
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return m;
  }
  static BeamSearchResult offline(const std::vector<int32_t>& prompt, int64_t width, int64_t max_tokens,
                                  double length_penalty = 1.0, int64_t returned = 0) {
    BeamSearchParams bp;
    bp.beam_width = width;
    bp.max_tokens = max_tokens;
    bp.length_penalty = length_penalty;
    bp.num_returned = returned;
    std::vector<PromptInput> in(1);
    in[0].token_ids = prompt;
    return llm_->beam_search(in, bp)[0];
  }
  static std::vector<int32_t> encode(const std::string& text) { return llm_->tokenizer().encode(text, true); }

  // The choices of one prompt against the offline beams: text, finish and stop reasons, and
  // completion tokens (the EOS that ended a beam is not returned, as vLLM does by default).
  static void expect_choices(const Json& choices, const BeamSearchResult& want, int64_t first_index,
                             const std::string& text_field, int64_t* completion_tokens = nullptr) {
    ASSERT_GE(choices.size(), static_cast<size_t>(first_index) + want.sequences.size());
    for (size_t i = 0; i < want.sequences.size(); ++i) {
      const Json& c = choices[static_cast<size_t>(first_index) + i];
      const BeamSequence& w = want.sequences[i];
      EXPECT_EQ(c["index"], first_index + static_cast<int64_t>(i));
      const Json text = text_field == "message" ? c["message"]["content"] : c[text_field];
      EXPECT_EQ(text, w.text) << "beam " << i;
      EXPECT_EQ(c["finish_reason"], w.finish_reason) << "beam " << i;
      if (w.finish_reason == "stop")
        EXPECT_EQ(c["stop_reason"], w.token_ids.back()) << "beam " << i;  // the EOS id, as vLLM reports it
      else
        EXPECT_TRUE(c["stop_reason"].is_null()) << "beam " << i;
      if (completion_tokens)
        *completion_tokens += static_cast<int64_t>(w.token_ids.size()) - (w.finish_reason == "stop" ? 1 : 0);
    }
  }

  static test::ServerProcess* server_;
  static LLM* llm_;
};
test::ServerProcess* HttpBeamSearch::server_ = nullptr;
LLM* HttpBeamSearch::llm_ = nullptr;

TEST_F(HttpBeamSearch, CompletionsEqualTheOfflineSearch) {
  ASSERT_TRUE(server_->running());
  // Widths 1..4, with and without a length penalty, best_of wider than n, and a list of prompts.
  for (const int64_t width : {1, 2, 4}) {
    HttpReply r = post("/v1/completions",
                       {{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"use_beam_search", true}, {"n", width}});
    ASSERT_EQ(r.status, 200) << r.body;
    const Json j = Json::parse(r.body);
    ASSERT_EQ(j["choices"].size(), static_cast<size_t>(width));
    const BeamSearchResult want = offline(encode("Once upon a time"), width, 24);
    int64_t tokens = 0;
    expect_choices(j["choices"], want, 0, "text", &tokens);
    EXPECT_EQ(j["usage"]["completion_tokens"], tokens);
    EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  }
  HttpReply r = post("/v1/completions", {{"prompt", {"Lily and Ben", "The cat"}},
                                         {"max_tokens", 30},
                                         {"use_beam_search", true},
                                         {"n", 2},
                                         {"best_of", 5},
                                         {"length_penalty", 0.5},
                                         {"temperature", 0.8}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = Json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 4u);
  for (int p = 0; p < 2; ++p) {
    BeamSearchParams bp;
    bp.beam_width = 5;
    bp.num_returned = 2;
    bp.max_tokens = 30;
    bp.length_penalty = 0.5;
    bp.temperature = 0.8;
    std::vector<PromptInput> in(1);
    in[0].text = p == 0 ? "Lily and Ben" : "The cat";
    expect_choices(j["choices"], llm_->beam_search(in, bp)[0], 2 * p, "text");
  }
  wait_idle();
}

TEST_F(HttpBeamSearch, LogprobsEchoAndIncludedEos) {
  const BeamSearchResult want = offline(encode("One day"), 3, 40);
  HttpReply r = post("/v1/completions", {{"prompt", "One day"},
                                         {"max_tokens", 40},
                                         {"use_beam_search", true},
                                         {"n", 3},
                                         {"logprobs", 2},
                                         {"echo", true},
                                         {"include_stop_str_in_output", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = Json::parse(r.body);
  // The prompt's part of the logprobs (echo) is what an ordinary echo request reports.
  const Json plain =
      Json::parse(post("/v1/completions", {{"prompt", "One day"}, {"max_tokens", 1}, {"logprobs", 2}, {"echo", true}})
                      .body)["choices"][0]["logprobs"];
  const size_t prompt_len = encode("One day").size();
  int64_t tokens = 0;
  for (size_t i = 0; i < 3; ++i) {
    const Json& c = j["choices"][i];
    const BeamSequence& w = want.sequences[i];
    EXPECT_EQ(c["text"], "One day" + w.text);  // echo; the EOS is never in the text
    // With include_stop_str_in_output the EOS that ended a beam is a returned token.
    const Json& lp = c["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), prompt_len + w.token_ids.size()) << i;
    double sum = 0;
    for (size_t k = 0; k < lp["tokens"].size(); ++k) {
      if (k < prompt_len) {
        EXPECT_EQ(lp["tokens"][k], plain["tokens"][k]) << k;
        EXPECT_EQ(lp["token_logprobs"][k], plain["token_logprobs"][k]) << k;
        EXPECT_EQ(lp["text_offset"][k], plain["text_offset"][k]) << k;
      } else {
        sum += lp["token_logprobs"][k].get<double>();
      }
    }
    EXPECT_NEAR(sum, w.cumulative_logprob, 1e-4) << i;
    tokens += static_cast<int64_t>(w.token_ids.size());
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], tokens);
}

TEST_F(HttpBeamSearch, StreamingSendsEachBeamOnceItIsDone) {
  const Json body = {{"prompt", "Tom had a"}, {"max_tokens", 20}, {"use_beam_search", true}, {"n", 3}};
  const Json whole = Json::parse(post("/v1/completions", body).body);
  Json sbody = body;
  sbody["stream"] = true;
  sbody["stream_options"] = {{"include_usage", true}};
  HttpReply s = post("/v1/completions", sbody);
  ASSERT_EQ(s.status, 200);
  const std::vector<Json> ev = test::sse_events(s.body);
  ASSERT_GE(ev.size(), 5u);
  EXPECT_EQ(ev.back(), "[DONE]");
  EXPECT_EQ(ev[ev.size() - 2]["usage"], whole["usage"]);
  std::vector<std::string> text(3);
  std::vector<int> finishes(3);
  for (size_t i = 0; i + 2 < ev.size(); ++i) {
    const Json& c = ev[i]["choices"][0];
    text.at(c["index"].get<size_t>()) += c["text"].get<std::string>();
    finishes.at(c["index"].get<size_t>()) += !c["finish_reason"].is_null();
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(text[i], whole["choices"][i]["text"]) << i;
    EXPECT_EQ(finishes[i], 1) << i;
  }
}

TEST_F(HttpBeamSearch, ChatBeamsEqualTheCompletionOfTheRenderedPrompt) {
  const Json messages = {{{"role", "user"}, {"content", "Tell me a story"}}};
  HttpReply tok = post("/tokenize", {{"messages", messages}, {"add_generation_prompt", true}});
  ASSERT_EQ(tok.status, 200) << tok.body;
  const std::vector<int32_t> prompt = Json::parse(tok.body)["tokens"].get<std::vector<int32_t>>();
  const BeamSearchResult want = offline(prompt, 3, 16);
  HttpReply r = post("/v1/chat/completions",
                     {{"messages", messages}, {"max_completion_tokens", 16}, {"use_beam_search", true}, {"n", 3}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = Json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 3u);
  expect_choices(j["choices"], want, 0, "message");
  // Streaming: the role first, then each beam's content and finish reason.
  HttpReply s = post(
      "/v1/chat/completions",
      {{"messages", messages}, {"max_completion_tokens", 16}, {"use_beam_search", true}, {"n", 3}, {"stream", true}});
  std::vector<std::string> content(3);
  std::vector<bool> role(3, false);
  for (const Json& e : test::sse_events(s.body)) {
    if (!e.is_object()) continue;
    const Json& c = e["choices"][0];
    const auto i = c["index"].get<size_t>();
    if (c["delta"].contains("role")) role[i] = content[i].empty();
    if (c["delta"].contains("content")) content[i] += c["delta"]["content"].get<std::string>();
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(role[i]) << i;
    EXPECT_EQ(content[i], want.sequences[i].text) << i;
  }
}

TEST_F(HttpBeamSearch, OtherRequestsAreServedWhileASearchRuns) {
  // A long, wide search; short requests sent meanwhile must not wait for it.
  std::atomic<bool> beam_done{false};
  std::thread beam([&] {
    HttpReply r = post("/v1/completions", {{"prompt", "Once upon a time"},
                                           {"max_tokens", 240},
                                           {"use_beam_search", true},
                                           {"n", 16},
                                           {"ignore_eos", true}});
    EXPECT_EQ(r.status, 200) << r.body;
    beam_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  int served_during = 0;
  for (int i = 0; i < 5; ++i) {
    HttpReply r = post("/v1/completions", {{"prompt", "The cat"}, {"max_tokens", 3}, {"temperature", 0}});
    EXPECT_EQ(r.status, 200);
    served_during += !beam_done;
  }
  beam.join();
  EXPECT_GT(served_during, 0) << "every short request waited for the beam search";
  wait_idle();
}

TEST_F(HttpBeamSearch, ClientsThatGoAwayFreeEveryBeam) {
  const std::string abort_label = "model_name=\"demo\",finished_reason=\"abort\"";
  const std::string idle = wait_idle();
  const double aborts_before = test::metrics_value(idle, "vllm:request_success_total", abort_label).get<double>();
  const double prompt_tokens_before = test::metrics_value(idle, "vllm:prompt_tokens_total").get<double>();
  const std::string prompt = "Once upon a time";
  // Shorter than a block, so no search's prompt is a prefix-cache hit: each admitted search
  // adds its whole prompt to vllm:prompt_tokens once it is scheduled.
  const auto prompt_len = static_cast<double>(encode(prompt).size());
  ASSERT_LT(prompt_len, 16);
  std::atomic<bool> all_admitted{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([i, &prompt, &all_admitted] {
      int fd = test::connect_to(server_->port());
      const std::string body = Json{{"prompt", prompt}, {"max_tokens", 240},  {"use_beam_search", true},
                                    {"n", 8},           {"ignore_eos", true}, {"stream", i % 2 == 0}}
                                   .dump();
      test::send_all(fd,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
      while (!all_admitted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ::close(fd);  // long before the search ends
    });
  // A client that goes away before the engine has its request leaves nothing to abort, so the
  // clients stay until every search has been scheduled (a fixed wait was too short under load).
  double prompt_tokens = prompt_tokens_before;
  for (int i = 0; i < 6000 && prompt_tokens - prompt_tokens_before < 8 * prompt_len; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    prompt_tokens = test::metrics_value(metrics(), "vllm:prompt_tokens_total").get<double>();
  }
  EXPECT_GE(prompt_tokens - prompt_tokens_before, 8 * prompt_len) << "not every search was scheduled";
  all_admitted = true;
  for (auto& t : threads) t.join();
  const std::string m = wait_idle();
  EXPECT_EQ(test::metrics_value(m, "vllm:num_requests_running"), Json(0.0)) << m;
  EXPECT_EQ(test::metrics_value(m, "vllm:kv_cache_usage_perc"), Json(0.0)) << m;
  // Streaming or not, every search was aborted: each counts its n sequences, as vLLM counts
  // finished sequences.
  EXPECT_EQ(test::metrics_value(m, "vllm:request_success_total", abort_label).get<double>() - aborts_before, 8 * 8);
  // The server still serves searches.
  EXPECT_EQ(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 2}, {"use_beam_search", true}, {"n", 2}}).status,
            200);
}

TEST_F(HttpBeamSearch, InvalidBeamRequestsNameTheField) {
  auto expect_400 = [&](const Json& body, const std::string& param) {
    HttpReply r = post("/v1/completions", body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(Json::parse(r.body)["error"]["param"], param) << r.body;
  };
  expect_400({{"prompt", "a"}, {"use_beam_search", true}, {"n", 2}, {"best_of", 1}}, "best_of");
  expect_400({{"prompt", "a"}, {"use_beam_search", true}, {"length_penalty", "long"}}, "length_penalty");
  expect_400({{"prompt", "a"}, {"use_beam_search", "yes"}}, "use_beam_search");
  expect_400({{"prompt", "a"}, {"early_stopping", true}}, "early_stopping");
  expect_400({{"prompt", "a"}, {"use_beam_search", true}, {"n", 200}}, "n");
}

}  // namespace
}  // namespace pagellm
