// The OpenAI-compatible server over raw HTTP: responses against the expected greedy outputs,
// streaming, every error path, auth, slow clients, and hundreds of concurrent streams.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "http_test_util.h"
#include "server_process.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::http_request;
using test::HttpReply;

const std::string kModel = test::shared_dir() + "/models/stories260K/stories260K.gguf";

class HttpApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ =
        new test::ServerProcess({kModel, "--served-model-name", "demo", "stories", "--max-model-len", "256",
                                 "--kv-cache-memory", "64MiB", "--http-timeout", "2", "--max-request-body", "1000000"});
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0);  // SIGTERM: clean exit
    delete server_;
  }
  static int port() { return server_->port(); }
  static HttpReply post(const std::string& path, const Json& body) {
    return http_request(port(), "POST", path, body.dump());
  }
  static Json metrics_value(const std::string& metrics, const std::string& name) {
    return test::metrics_value(metrics, name);
  }
  static std::vector<Json> events(const std::string& body) { return test::sse_events(body); }
  static test::ServerProcess* server_;
};
test::ServerProcess* HttpApi::server_ = nullptr;

TEST_F(HttpApi, CompletionsMatchTheExpectedGreedyText) {
  ASSERT_TRUE(server_->running());
  Json expected = read_json_file(test::shared_dir() + "/models/stories260K/expected/greedy.json");
  for (const Json& c : expected["cases"]) {
    if (c["safe_prefix"] != c["n_generated"]) continue;
    HttpReply r = post("/v1/completions", {{"model", "demo"},
                                           {"prompt", c["prompt"]},
                                           {"max_tokens", c["n_generated"]},
                                           {"temperature", 0},
                                           {"ignore_eos", true}});
    ASSERT_EQ(r.status, 200) << r.body;
    Json j = Json::parse(r.body);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["model"], "demo");
    EXPECT_EQ(j["choices"][0]["text"], c["generated_text"]) << c["name"];
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["prompt_tokens"], c["prompt_ids"].size());
    EXPECT_EQ(j["usage"]["completion_tokens"], c["n_generated"]);
    EXPECT_EQ(j["usage"]["total_tokens"], c["prompt_ids"].size() + c["n_generated"].get<size_t>());
    EXPECT_TRUE(r.headers.find("X-Request-Id: cmpl-") != std::string::npos) << r.headers;
  }
}

TEST_F(HttpApi, PromptFormsEchoAndNumbering) {
  Json ids = {1, 403, 407, 261, 378};
  HttpReply a = post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  HttpReply b = post("/v1/completions", {{"prompt", ids}, {"max_tokens", 8}, {"temperature", 0}});
  HttpReply c = post("/v1/completions",
                     {{"prompt", {"Once upon a time", "Lily"}}, {"max_tokens", 8}, {"temperature", 0}, {"n", 2}});
  HttpReply d =
      post("/v1/completions", {{"prompt", {ids, {1, 317}}}, {"max_tokens", 8}, {"temperature", 0}, {"echo", true}});
  for (auto* r : {&a, &b, &c, &d}) ASSERT_EQ(r->status, 200) << r->body;
  const std::string text = Json::parse(a.body)["choices"][0]["text"];
  EXPECT_EQ(Json::parse(b.body)["choices"][0]["text"], text);
  Json cj = Json::parse(c.body);
  ASSERT_EQ(cj["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(cj["choices"][i]["index"], i);
  EXPECT_EQ(cj["choices"][0]["text"], text);
  EXPECT_EQ(cj["choices"][1]["text"], text);  // greedy: both samples agree
  EXPECT_EQ(cj["usage"]["prompt_tokens"], 5 + 2);
  EXPECT_EQ(cj["usage"]["completion_tokens"], 32);
  Json dj = Json::parse(d.body);
  // Token prompts echo as the tokenizer decodes them, special tokens included (vLLM does the same).
  EXPECT_EQ(dj["choices"][0]["text"], "<s> Once upon a time" + text);
  HttpReply e =
      post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}, {"echo", true}});
  EXPECT_EQ(Json::parse(e.body)["choices"][0]["text"], "Once upon a time" + text);
}

TEST_F(HttpApi, StreamingChunksConcatenateToTheFullText) {
  const Json body = {{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"temperature", 0}};
  HttpReply whole = post("/v1/completions", body);
  Json sbody = body;
  sbody["stream"] = true;
  sbody["stream_options"] = {{"include_usage", true}};
  HttpReply streamed = post("/v1/completions", sbody);
  ASSERT_EQ(streamed.status, 200);
  EXPECT_NE(streamed.headers.find("text/event-stream"), std::string::npos);
  std::vector<Json> ev = events(streamed.body);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.back(), "[DONE]");
  const Json& usage = ev[ev.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 30);
  std::string text;
  int finishes = 0;
  for (size_t i = 0; i + 2 < ev.size(); ++i) {
    EXPECT_TRUE(ev[i]["usage"].is_null());
    text += ev[i]["choices"][0]["text"].get<std::string>();
    finishes += !ev[i]["choices"][0]["finish_reason"].is_null();
  }
  EXPECT_EQ(finishes, 1);
  EXPECT_EQ(text, Json::parse(whole.body)["choices"][0]["text"]);
}

TEST_F(HttpApi, LogprobsMatchTheReferenceLogits) {
  Json expected = read_json_file(test::shared_dir() + "/models/stories260K/expected/logits.json");
  for (const Json& c : expected["cases"]) {
    const std::vector<double> logits = c["last_logits"].get<std::vector<double>>();
    double mx = -1e300, sum = 0;
    for (double x : logits) mx = std::max(mx, x);
    for (double x : logits) sum += std::exp(x - mx);
    const size_t best = static_cast<size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    HttpReply r =
        post("/v1/completions", {{"prompt", c["prompt_ids"]}, {"max_tokens", 1}, {"temperature", 0}, {"logprobs", 3}});
    ASSERT_EQ(r.status, 200) << r.body;
    Json lp = Json::parse(r.body)["choices"][0]["logprobs"];
    EXPECT_NEAR(lp["token_logprobs"][0].get<double>(), logits[best] - mx - std::log(sum), 1e-3) << c["name"];
    EXPECT_GE(lp["top_logprobs"][0].size(), 3u);
  }
}

TEST_F(HttpApi, StopStringsEndTheTextStreamingOrNot) {
  const Json body = {
      {"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0}, {"stop", {"little girl", "zzz"}}};
  Json whole = Json::parse(post("/v1/completions", body).body);
  EXPECT_EQ(whole["choices"][0]["text"], ", there was a ");
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(whole["choices"][0]["stop_reason"], "little girl");
  Json sbody = body;
  sbody["stream"] = true;
  std::string text;
  for (const Json& e : events(post("/v1/completions", sbody).body))
    if (e.is_object()) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, ", there was a ");
  Json kept = body;
  kept["include_stop_str_in_output"] = true;
  EXPECT_EQ(Json::parse(post("/v1/completions", kept).body)["choices"][0]["text"], ", there was a little girl");
}

TEST_F(HttpApi, ChatNeedsATemplateAndTokenizeDetokenizeWork) {
  HttpReply chat = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(chat.status, 400);
  EXPECT_NE(chat.body.find("chat template"), std::string::npos);
  HttpReply tok = post("/tokenize", {{"prompt", "Once upon a time"}});
  ASSERT_EQ(tok.status, 200);
  EXPECT_EQ(Json::parse(tok.body)["tokens"], Json({1, 403, 407, 261, 378}));
  EXPECT_EQ(Json::parse(tok.body)["count"], 5);
  HttpReply no_special = post("/tokenize", {{"prompt", "Once upon a time"}, {"add_special_tokens", false}});
  EXPECT_EQ(Json::parse(no_special.body)["count"], 4);
  HttpReply detok = post("/detokenize", {{"tokens", {403, 407, 261, 378}}});
  ASSERT_EQ(detok.status, 200);
  EXPECT_EQ(Json::parse(detok.body)["prompt"], "Once upon a time");
  EXPECT_EQ(post("/detokenize", {{"tokens", {1, 100000}}}).status, 400);
}

TEST_F(HttpApi, InfoRoutes) {
  EXPECT_EQ(http_request(port(), "GET", "/health").status, 200);
  HttpReply v = http_request(port(), "GET", "/version");
  EXPECT_TRUE(Json::parse(v.body).contains("version"));
  Json models = Json::parse(http_request(port(), "GET", "/v1/models").body);
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "demo");
  EXPECT_EQ(models["data"][1]["id"], "stories");
  EXPECT_EQ(models["data"][0]["max_model_len"], 256);
  HttpReply with_id = http_request(port(), "POST", "/v1/completions", R"({"prompt": "a", "max_tokens": 1})",
                                   "X-Request-Id: my-request-7\r\n");
  EXPECT_NE(with_id.headers.find("X-Request-Id: my-request-7"), std::string::npos);
  EXPECT_EQ(Json::parse(with_id.body)["id"], "my-request-7");
}

TEST_F(HttpApi, BadRequestsGetTheRightStatusAndShape) {
  auto expect_error = [&](const HttpReply& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body;
    Json j = Json::parse(r.body);
    ASSERT_TRUE(j.contains("error")) << r.body;
    for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(j["error"].contains(k)) << k;
    EXPECT_EQ(j["error"]["code"], status);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos) << r.body;
  };
  expect_error(http_request(port(), "POST", "/v1/completions", "{\"prompt\": "), 400, "not valid JSON");
  expect_error(http_request(port(), "POST", "/v1/completions", "[1, 2]"), 400, "JSON object");
  expect_error(http_request(port(), "POST", "/v1/completions", ""), 400, "empty");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"temperature", "hot"}}), 400, "temperature");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", "many"}}), 400, "max_tokens");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 1.5}}), 400, "max_tokens");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"top_p", 0}}), 400, "top_p");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"temperature", -0.5}}), 400, "temperature");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"n", 0}}), 400, "n must be");
  expect_error(post("/v1/completions", {{"max_tokens", 3}}), 400, "prompt");
  expect_error(post("/v1/completions", {{"prompt", Json::array()}}), 400, "prompt");
  expect_error(post("/v1/completions", {{"prompt", {1, 99999}}}), 400, "99999");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"suffix", "z"}}), 400, "suffix");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 1000}}), 400, "maximum context length is 256");
  expect_error(post("/v1/completions", {{"prompt", "a"}, {"model", "gpt-4"}}), 404, "gpt-4");
  expect_error(http_request(port(), "GET", "/v1/completions"), 405, "not allowed");
  expect_error(http_request(port(), "DELETE", "/v1/models"), 405, "not allowed");
  expect_error(http_request(port(), "GET", "/v2/nothing"), 404, "/v2/nothing");
  expect_error(http_request(port(), "POST", "/v1/completions", std::string(1100000, ' ')), 413, "larger");
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  expect_error(http_request(port(), "POST", "/v1/completions", deep), 400, "nests deeper");
  expect_error(http_request(port(), "POST", "/v1/completions", "{\"prompt\": \"\xff\xfe\"}"), 400, "JSON");
  // Unknown fields are ignored, as OpenAI does.
  EXPECT_EQ(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}, {"frobnicate", true}}).status, 200);
  // The server still serves after all that.
  EXPECT_EQ(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}}).status, 200);
}

TEST_F(HttpApi, SlowClientsTimeOutWithoutHurtingOthers) {
  int slow = test::connect_to(port());
  ASSERT_GE(slow, 0);
  test::send_all(slow, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":");
  int idle = test::connect_to(port());  // sends nothing at all
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 2}}).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // The server gives up on both after its 2 s read timeout (perhaps answering 400 first) and
  // closes: recv reaches the end well before its own 60 s timeout.
  auto read_to_close = [](int fd) {
    char buf[256];
    while (::recv(fd, buf, sizeof(buf), 0) > 0) {
    }
  };
  read_to_close(slow);
  read_to_close(idle);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  ::close(slow);
  ::close(idle);
}

TEST_F(HttpApi, ManyConcurrentStreamsEachGetTheirOwnCompleteOutput) {
  const int kClients = 256;
  const std::vector<std::string> prompts = {"Once upon a time", "Lily and Ben", "The cat", "One day", "Tom had a"};
  std::map<std::pair<int, int>, std::string> want;  // (prompt, max_tokens) -> text
  for (int p = 0; p < 5; ++p)
    for (int m : {5, 17, 40}) {
      HttpReply r = post("/v1/completions",
                         {{"prompt", prompts[p]}, {"max_tokens", m}, {"temperature", 0}, {"ignore_eos", true}});
      want[{p, m}] = Json::parse(r.body)["choices"][0]["text"];
    }
  std::vector<std::string> got(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      const int m = std::vector<int>{5, 17, 40}[static_cast<size_t>(i % 3)];
      HttpReply r = post("/v1/completions", {{"prompt", prompts[static_cast<size_t>(i % 5)]},
                                             {"max_tokens", m},
                                             {"temperature", 0},
                                             {"ignore_eos", true},
                                             {"stream", true}});
      for (const Json& e : events(r.body))
        if (e.is_object()) got[static_cast<size_t>(i)] += e["choices"][0]["text"].get<std::string>();
      if (got[static_cast<size_t>(i)].empty()) got[static_cast<size_t>(i)] = std::to_string(r.status) + " " + r.body;
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    const int m = std::vector<int>{5, 17, 40}[static_cast<size_t>(i % 3)];
    EXPECT_EQ(got[static_cast<size_t>(i)], (want[{i % 5, m}])) << "client " << i;
  }
}

TEST_F(HttpApi, DisconnectedClientsAreAbortedAndEverythingIsFreed) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i)
    threads.emplace_back([&] {
      int fd = test::connect_to(port());
      const std::string body =
          Json{{"prompt", "Once upon a time"}, {"max_tokens", 200}, {"ignore_eos", true}, {"stream", true}}.dump();
      test::send_all(fd,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
      char buf[512];
      ::recv(fd, buf, sizeof(buf), 0);  // the first chunk arrives, then the client goes away
      ::close(fd);
    });
  for (auto& t : threads) t.join();
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = http_request(port(), "GET", "/metrics").body;
    if (metrics_value(metrics, "vllm:num_requests_running") == Json(0.0) &&
        metrics_value(metrics, "vllm:kv_cache_usage_perc") == Json(0.0))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(metrics_value(metrics, "vllm:num_requests_running"), Json(0.0)) << metrics;
  EXPECT_EQ(metrics_value(metrics, "vllm:num_requests_waiting"), Json(0.0));
  EXPECT_EQ(metrics_value(metrics, "vllm:kv_cache_usage_perc"), Json(0.0));
  // Every one of the 100 was aborted, none finished on its own (200 tokens take far longer).
  EXPECT_GE(test::metrics_value(metrics, "vllm:request_success_total", "model_name=\"demo\",finished_reason=\"abort\"")
                .get<double>(),
            100);
}

TEST_F(HttpApi, MetricsCountersMoveAndHistogramsAreCumulative) {
  // Wait until the server is idle and its counters have settled, so no earlier request moves them.
  std::string before;
  Json last_count = -1.0;
  for (int i = 0; i < 400; ++i) {
    before = http_request(port(), "GET", "/metrics").body;
    const Json count = metrics_value(before, "vllm:generation_tokens_total");
    if (metrics_value(before, "vllm:num_requests_running") == Json(0.0) &&
        metrics_value(before, "vllm:num_requests_waiting") == Json(0.0) && count == last_count)
      break;
    last_count = count;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 7}, {"ignore_eos", true}, {"n", 3}})
                .status,
            200);
  const std::string after = http_request(port(), "GET", "/metrics").body;
  EXPECT_EQ(metrics_value(after, "vllm:generation_tokens_total").get<double>() -
                metrics_value(before, "vllm:generation_tokens_total").get<double>(),
            21);
  // One request of n = 3 counts three finished sequences, as vLLM counts them.
  const std::string length = "model_name=\"demo\",finished_reason=\"length\"";
  EXPECT_EQ(test::metrics_value(after, "vllm:request_success_total", length).get<double>() -
                test::metrics_value(before, "vllm:request_success_total", length).get<double>(),
            3);
  EXPECT_GT(metrics_value(after, "vllm:prompt_tokens_total").get<double>(),
            metrics_value(before, "vllm:prompt_tokens_total").get<double>() - 1);
  for (const char* h :
       {"vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds"}) {
    double last = -1;
    size_t pos = 0;
    const std::string prefix = std::string("\n") + h + "_bucket{";
    while ((pos = after.find(prefix, pos)) != std::string::npos) {
      const size_t sp = after.find("} ", pos);
      const double v = std::stod(after.substr(sp + 2, after.find('\n', sp) - sp - 2));
      EXPECT_GE(v, last) << h;
      last = v;
      pos = sp;
    }
    EXPECT_EQ(last, metrics_value(after, std::string(h) + "_count").get<double>()) << h;  // +Inf bucket == count
  }
}

TEST(HttpAuth, ApiKeyIsRequiredOnV1Routes) {
  test::ServerProcess server({kModel, "--max-model-len", "128", "--kv-cache-memory", "8MiB"},
                             {"PAGELLM_API_KEY=sekrit"});
  ASSERT_TRUE(server.running());
  HttpReply none = http_request(server.port(), "GET", "/v1/models");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(Json::parse(none.body)["error"]["code"], 401);
  EXPECT_EQ(http_request(server.port(), "GET", "/v1/models", "", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(http_request(server.port(), "GET", "/v1/models", "", "Authorization: Bearer sekrit\r\n").status, 200);
  EXPECT_EQ(http_request(server.port(), "GET", "/health").status, 200);  // not under /v1
  EXPECT_EQ(server.stop(), 0);
}

TEST(HttpServe, BadModelOrFlagsExitWithAnError) {
  test::ServerProcess missing({"/nonexistent/model.gguf"});
  EXPECT_FALSE(missing.running());
}

}  // namespace
}  // namespace pagellm
