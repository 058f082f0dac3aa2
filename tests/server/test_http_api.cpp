// The OpenAI-compatible server over raw HTTP: responses against the expected greedy outputs,
// streaming, every error path, auth, slow clients, and hundreds of concurrent streams.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "http_test_util.h"
#include "server/api_server.h"
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

// Code points, as OpenAI's text_offset counts (Python's len).
int64_t chars(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST_F(HttpApi, LogprobTokensAndTextOffsetsPointIntoTheReturnedText) {
  auto detokenize = [&](const std::vector<int32_t>& ids) {
    return Json::parse(post("/detokenize", {{"tokens", ids}}).body)["prompt"].get<std::string>();
  };
  const std::string prompt = "Once upon a time";
  const std::vector<int32_t> prompt_ids =
      Json::parse(post("/tokenize", {{"prompt", prompt}}).body)["tokens"].get<std::vector<int32_t>>();
  const std::string prompt_text = detokenize(prompt_ids);
  for (const bool echo : {false, true})
    for (const bool stop : {false, true}) {
      const std::string label = std::string(echo ? "echo" : "") + (stop ? " stop" : "");
      Json body = {{"prompt", prompt}, {"max_tokens", 24}, {"temperature", 0}, {"logprobs", 2}, {"echo", echo}};
      if (stop) body["stop"] = "little";
      const Json as_text = Json::parse(post("/v1/completions", body).body)["choices"][0];
      body["return_tokens_as_token_ids"] = true;
      const Json as_ids = Json::parse(post("/v1/completions", body).body)["choices"][0];
      const std::string text = as_text["text"];
      const Json& lp = as_text["logprobs"];
      ASSERT_EQ(lp["tokens"].size(), as_ids["logprobs"]["tokens"].size()) << label;
      std::vector<int32_t> ids;
      for (const Json& t : as_ids["logprobs"]["tokens"]) ids.push_back(std::stoi(t.get<std::string>().substr(9)));
      const size_t first_out = echo ? prompt_ids.size() : 0;
      ASSERT_EQ(ids.size() - first_out, stop ? ids.size() - first_out : 24u) << label;
      ASSERT_GT(ids.size(), first_out) << label;
      if (echo) {
        EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(first_out)), prompt_ids);
        EXPECT_EQ(text.substr(0, prompt.size()), prompt);
        // The prompt's first token has no logprob (nothing predicts it), as vLLM sends it.
        EXPECT_TRUE(lp["token_logprobs"][0].is_null());
        EXPECT_TRUE(lp["top_logprobs"][0].is_null());
      }
      const int64_t base = echo ? chars(prompt) : 0;
      int64_t last = 0;
      for (size_t k = 0; k < ids.size(); ++k) {
        const int64_t offset = lp["text_offset"][k];
        EXPECT_GE(offset, last) << label << " token " << k;
        EXPECT_LE(offset, chars(text)) << label << " token " << k;
        last = offset;
        // vLLM's token string: the token decoded alone (a GGUF SentencePiece vocabulary loses "▁").
        const std::string token = lp["tokens"][k];
        EXPECT_EQ(token, detokenize({ids[k]})) << label << " token " << k;
        if (k < first_out) {
          // In the echoed prompt the token's text starts at its offset (after the word's space).
          if (k > 0) {
            EXPECT_EQ(text.find(token, static_cast<size_t>(offset)),
                      static_cast<size_t>(offset) + (text[static_cast<size_t>(offset)] == ' '))
                << label << " prompt token " << k;
          }
          continue;
        }
        // Generated token j starts where the text of the prompt plus the tokens before it ends:
        // the full decode of prompt + out[:j], past the prompt's decode (cut by a stop string).
        const std::vector<int32_t> before(ids.begin() + static_cast<long>(first_out),
                                          ids.begin() + static_cast<long>(k));
        std::vector<int32_t> all = prompt_ids;
        all.insert(all.end(), before.begin(), before.end());
        const int64_t want = std::min(chars(detokenize(all)) - chars(prompt_text), chars(text) - base);
        EXPECT_EQ(offset, base + want) << label << " token " << k;
      }
      if (stop) {
        EXPECT_EQ(as_text["finish_reason"], "stop") << label;
      }
    }
}

TEST_F(HttpApi, SpecialTokensAreInTheTextOnlyWhenAskedAndDetokenizeFalseHasNone) {
  // logit_bias forces the BOS token (special) three times.
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
  const Json body = {
      {"prompt", prompt}, {"max_tokens", 3}, {"temperature", 0}, {"ignore_eos", true}, {"logit_bias", {{"1", 100}}}};
  const Json plain = Json::parse(post("/v1/completions", body).body);
  EXPECT_EQ(plain["choices"][0]["text"], "");
  EXPECT_EQ(plain["usage"]["completion_tokens"], 3);
  Json keep = body;
  keep["skip_special_tokens"] = false;
  // Reference: the decode of prompt + output, special tokens kept, past the prompt's decode.
  auto detokenize = [&](const std::vector<int32_t>& ids) {
    return Json::parse(post("/detokenize", {{"tokens", ids}}).body)["prompt"].get<std::string>();
  };
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), {1, 1, 1});
  const std::string want = detokenize(all).substr(detokenize(prompt).size());
  EXPECT_NE(want.find("<s>"), std::string::npos);
  EXPECT_EQ(Json::parse(post("/v1/completions", keep).body)["choices"][0]["text"], want);
  keep["detokenize"] = false;
  const Json raw = Json::parse(post("/v1/completions", keep).body);
  EXPECT_EQ(raw["choices"][0]["text"], "");
  EXPECT_EQ(raw["usage"]["completion_tokens"], 3);
}

TEST_F(HttpApi, EchoWithMaxTokensZeroScoresThePrompt) {
  // vLLM's echo-only request (lm-eval's loglikelihood): the prompt, its logprobs, nothing generated.
  const Json r = Json::parse(
      post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}})
          .body);
  const Json& c = r["choices"][0];
  EXPECT_EQ(c["text"], "Once upon a time");
  ASSERT_EQ(c["logprobs"]["tokens"].size(), 5u);
  EXPECT_TRUE(c["logprobs"]["token_logprobs"][0].is_null());
  // Each prompt logprob equals what a one-token completion of the shorter prompt reports.
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378};
  for (size_t k = 1; k < ids.size(); ++k) {
    const Json one = Json::parse(
        post("/v1/completions", {{"prompt", std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(k))},
                                 {"max_tokens", 1},
                                 {"logprobs", 20}})
            .body)["choices"][0]["logprobs"]["top_logprobs"][0];
    const std::string token = c["logprobs"]["tokens"][k];
    ASSERT_TRUE(one.contains(token)) << token;
    EXPECT_NEAR(c["logprobs"]["token_logprobs"][k].get<double>(), one[token].get<double>(), 1e-6) << token;
  }
  EXPECT_EQ(post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 0}}).status, 400);  // only with echo
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
  const std::string abort_label = "model_name=\"demo\",finished_reason=\"abort\"";
  auto aborts = [&](const std::string& m) {
    return test::metrics_value(m, "vllm:request_success_total", abort_label).get<double>();
  };
  const double aborts_before = aborts(http_request(port(), "GET", "/metrics").body);
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
  // The clients may be gone before the engine even admitted their requests: wait for all 100
  // aborts, then for nothing to be left.
  for (int i = 0; i < 100; ++i) {
    metrics = http_request(port(), "GET", "/metrics").body;
    if (aborts(metrics) - aborts_before >= 100 && metrics_value(metrics, "vllm:num_requests_running") == Json(0.0) &&
        metrics_value(metrics, "vllm:kv_cache_usage_perc") == Json(0.0))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(metrics_value(metrics, "vllm:num_requests_running"), Json(0.0)) << metrics;
  EXPECT_EQ(metrics_value(metrics, "vllm:num_requests_waiting"), Json(0.0));
  EXPECT_EQ(metrics_value(metrics, "vllm:kv_cache_usage_perc"), Json(0.0));
  // Every one of the 100 was aborted, none finished on its own (200 tokens take far longer).
  EXPECT_EQ(aborts(metrics) - aborts_before, 100);
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

TEST(HttpChatLogprobs, TokensAndBytesAreTheDecodedTokens) {
  test::ServerProcess server({kModel, "--max-model-len", "128", "--kv-cache-memory", "8MiB", "--chat-template",
                              test::source_dir() + "/tests/node/fixtures/chatml.jinja", "--max-logprobs", "5",
                              "--max-num-seqs", "8"});
  ASSERT_TRUE(server.running());
  auto post = [&](const std::string& path, const Json& body) {
    return Json::parse(http_request(server.port(), "POST", path, body.dump()).body);
  };
  const Json messages = {{{"role", "user"}, {"content", "Tell me a story"}}};
  const Json chat = post("/v1/chat/completions", {{"messages", messages},
                                                  {"max_completion_tokens", 20},
                                                  {"temperature", 0},
                                                  {"logprobs", true},
                                                  {"top_logprobs", 3}});
  const Json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 20u);
  // The same tokens through completions, as ids, over the rendered prompt.
  const Json prompt = post("/tokenize", {{"messages", messages}, {"add_generation_prompt", true}})["tokens"];
  const Json ids = post("/v1/completions", {{"prompt", prompt},
                                            {"max_tokens", 20},
                                            {"temperature", 0},
                                            {"logprobs", 0},
                                            {"return_tokens_as_token_ids", true}})["choices"][0]["logprobs"]["tokens"];
  std::string text;
  for (size_t k = 0; k < content.size(); ++k) {
    const std::string token = content[k]["token"];
    const int32_t id = std::stoi(ids[k].get<std::string>().substr(9));
    EXPECT_EQ(token, post("/detokenize", {{"tokens", {id}}})["prompt"]) << k;  // decoded alone (vLLM)
    std::vector<int> bytes(token.begin(), token.end());
    for (int& b : bytes) b &= 0xFF;
    EXPECT_EQ(content[k]["bytes"], Json(bytes)) << k;
    ASSERT_EQ(content[k]["top_logprobs"].size(), 3u);
    EXPECT_EQ(content[k]["top_logprobs"][0]["token"], token);  // greedy: the top one
    EXPECT_GE(content[k]["top_logprobs"][0]["logprob"].get<double>(),
              content[k]["top_logprobs"][1]["logprob"].get<double>());
  }

  // Invalid values get a 400 whose message and `param` name the field (issue #6's list), the
  // limits being this server's --max-logprobs 5 and --max-num-seqs 8.
  auto expect_400 = [&](const std::string& path, Json body, const std::string& param, const std::string& needle) {
    if (path == "/v1/completions")
      body["prompt"] = "Once";
    else
      body["messages"] = messages;
    HttpReply r = http_request(server.port(), "POST", path, body.dump());
    EXPECT_EQ(r.status, 400) << body.dump() << " " << r.body;
    const Json e = Json::parse(r.body)["error"];
    EXPECT_EQ(e["param"], param) << body.dump() << " " << r.body;
    EXPECT_NE(e["message"].get<std::string>().find(needle), std::string::npos) << r.body;
  };
  expect_400("/v1/completions", {{"logprobs", 6}}, "logprobs", "between 0 and 5");
  expect_400("/v1/completions", {{"prompt_logprobs", 6}}, "prompt_logprobs", "between 0 and 5");
  expect_400("/v1/chat/completions", {{"logprobs", true}, {"top_logprobs", 6}}, "top_logprobs", "between 0 and 5");
  expect_400("/v1/completions", {{"temperature", -1}}, "temperature", "non-negative");
  expect_400("/v1/completions", {{"top_p", 1.5}}, "top_p", "(0, 1]");
  expect_400("/v1/completions", {{"n", 0}}, "n", "at least 1");
  expect_400("/v1/completions", {{"n", 9}}, "n", "--max-num-seqs 8");
  expect_400("/v1/completions", {{"n", 2}, {"best_of", 9}}, "best_of", "--max-num-seqs 8");
  expect_400("/v1/completions", {{"use_beam_search", true}, {"n", 9}}, "n", "beam width");
  expect_400("/v1/completions", {{"stop_token_ids", {3, 99999}}}, "stop_token_ids", "99999");
  expect_400("/v1/completions", {{"logit_bias", {{"99999", 1}}}}, "logit_bias", "99999");
  expect_400("/v1/completions", {{"allowed_token_ids", {99999}}}, "allowed_token_ids", "99999");
  expect_400("/v1/completions", {{"min_tokens", 20}, {"max_tokens", 10}}, "min_tokens", "max_tokens");
  expect_400("/v1/chat/completions", {{"presence_penalty", 3}}, "presence_penalty", "[-2, 2]");
  EXPECT_EQ(server.stop(), 0);
}

TEST(HttpShutdown, SigtermFinishesRunningRequestsRefusesNewOnesAndExitsZero) {
  test::ServerProcess server(
      {kModel, "--max-model-len", "256", "--kv-cache-memory", "16MiB", "--shutdown-grace", "30"});
  ASSERT_TRUE(server.running());
  const int port = server.port();
  const int kClients = 16;
  std::vector<std::string> bodies(kClients);
  std::atomic<int> started{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      int fd = test::connect_to(port);
      const std::string body =
          Json{{"prompt", "Once upon a time"}, {"max_tokens", 240}, {"ignore_eos", true}, {"stream", true}}.dump();
      test::send_all(fd,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                     "application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
      std::string raw;
      char buf[65536];
      ssize_t n;
      bool counted = false;
      while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
        raw.append(buf, static_cast<size_t>(n));
        if (!counted && raw.find("data: ") != std::string::npos) ++started, counted = true;
      }
      ::close(fd);
      bodies[static_cast<size_t>(i)] = test::parse_reply(raw).body;
    });
  while (started < kClients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server.signal(SIGTERM);
  // While it drains, new requests are refused with 503 in OpenAI's error shape.
  HttpReply refused;
  for (int i = 0; i < 200 && refused.status != 503; ++i)
    refused = http_request(port, "POST", "/v1/completions", R"({"prompt": "a", "max_tokens": 1})");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("shutting down"), std::string::npos);
  for (auto& t : clients) t.join();
  EXPECT_EQ(server.wait(), 0);
  // Every running stream was finished, not cut.
  for (int i = 0; i < kClients; ++i) {
    const std::vector<Json> ev = test::sse_events(bodies[static_cast<size_t>(i)]);
    ASSERT_FALSE(ev.empty()) << i;
    EXPECT_EQ(ev.back(), "[DONE]") << i;
    std::string finish;
    for (const Json& e : ev)
      if (e.is_object() && !e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
    EXPECT_EQ(finish, "length") << i;
  }
}

TEST(HttpShutdown, AfterTheGracePeriodRunningRequestsAreAborted) {
  test::ServerProcess server({kModel, "--max-model-len", "256", "--kv-cache-memory", "16MiB", "--shutdown-grace", "0"});
  ASSERT_TRUE(server.running());
  std::atomic<bool> done{false};
  std::thread client([&] {
    http_request(server.port(), "POST", "/v1/completions",
                 R"({"prompt": "Once upon a time", "max_tokens": 240, "ignore_eos": true, "n": 64})");
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  server.signal(SIGINT);
  EXPECT_EQ(server.wait(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  client.join();  // its connection was closed, not left hanging
  EXPECT_TRUE(done);
}

TEST(HttpLoading, EveryRouteAnswers503UntilTheModelIsLoaded) {
  // The port is bound before the model loads (pagellm serve); an ApiServer without a context is
  // that window, held open.
  server::ServerConfig config;
  config.port = 0;
  config.served_model_names = {"demo"};
  config.log_requests = false;
  server::ApiServer api(config);
  api.start();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{{"GET", "/health"},
                                                                                     {"GET", "/v1/models"},
                                                                                     {"POST", "/v1/completions"},
                                                                                     {"POST", "/v1/chat/completions"},
                                                                                     {"POST", "/tokenize"},
                                                                                     {"GET", "/metrics"}}) {
    HttpReply r = http_request(api.port(), method, path, method == "POST" ? R"({"prompt": "a"})" : "");
    EXPECT_EQ(r.status, 503) << method << " " << path;
    EXPECT_EQ(Json::parse(r.body)["error"]["code"], 503) << r.body;
  }
  api.stop();
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
