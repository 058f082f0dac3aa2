// RequestStream: deltas of several requests and sequences on one stream, read by a reader that
// lags: merged per (request, sequence), never lost, the stream ends only after every delta.
#include <gtest/gtest.h>

#include <map>

#include "engine/request_stream.h"

namespace pagellm {
namespace {

RequestOutput delta(const std::string& id, int64_t index, const std::string& text, bool seq_done = false,
                    bool request_done = false) {
  RequestOutput o;
  o.request_id = id;
  o.index = index;
  o.new_text = text;
  o.new_token_ids = {static_cast<int32_t>(text.size())};
  if (seq_done) o.finish_reason = "length";
  o.finished = request_done;
  return o;
}

TEST(RequestStream, LaggingReaderGetsEveryDeltaInOrderPerSequence) {
  RequestStream stream(2);  // requests a (3 sequences) and b (1)
  std::map<std::pair<std::string, int64_t>, std::string> want, got;
  for (int step = 0; step < 20; ++step) {
    for (int64_t i = 0; i < 3; ++i) {
      const std::string t = "a" + std::to_string(i) + "_" + std::to_string(step) + " ";
      want[{"a", i}] += t;
      // The last step: sequences 2, then 0 and 1 end; the request's final output is sequence 1's.
      stream.push(delta("a", i, t, step == 19, step == 19 && i == 2));
    }
    const std::string t = "b_" + std::to_string(step) + " ";
    want[{"b", 0}] += t;
    stream.push(delta("b", 0, t, step == 19, step == 19));
  }
  int reads = 0;
  while (auto out = stream.next(std::chrono::milliseconds(10))) {
    got[{out->request_id, out->index}] += out->new_text;
    ++reads;
  }
  EXPECT_EQ(got, want);
  EXPECT_LT(reads, 80);  // the lagging reader got merged deltas
  EXPECT_TRUE(stream.finished());
}

TEST(RequestStream, FinishesOnlyAfterTheLastDeltaIsTaken) {
  RequestStream stream(1);
  stream.push(delta("r", 0, "x"));
  stream.push(delta("r", 0, "y", true, true));
  EXPECT_FALSE(stream.finished());
  EXPECT_EQ(stream.next(std::chrono::milliseconds(1))->new_text, "x");
  EXPECT_FALSE(stream.finished());
  EXPECT_TRUE(stream.next(std::chrono::milliseconds(1))->finished);
  EXPECT_TRUE(stream.finished());
  EXPECT_FALSE(stream.next(std::chrono::milliseconds(1)).has_value());
}

}  // namespace
}  // namespace pagellm
