#include "server/logprobs_json.h"

#include <algorithm>

#include "util/utf8.h"

namespace pagellm::server {
namespace {

Json bytes_of(const std::string& s) {
  Json out = Json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

Json completion_logprobs_json(const std::vector<PositionLogprobs>& positions, int64_t offset) {
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(), offsets = Json::array();
  for (const PositionLogprobs& p : positions) {
    if (p.empty()) continue;
    const Logprob& chosen = p.front().second;
    tokens.push_back(chosen.decoded_token);
    token_logprobs.push_back(chosen.logprob);
    Json alternatives = Json::object();
    for (const auto& [id, lp] : p) alternatives[lp.decoded_token] = lp.logprob;
    top.push_back(std::move(alternatives));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(utf8_length(chosen.decoded_token));
  }
  return Json{{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

Json chat_logprobs_json(const std::vector<PositionLogprobs>& positions, int64_t top) {
  Json content = Json::array();
  for (const PositionLogprobs& p : positions) {
    if (p.empty()) continue;
    const Logprob& chosen = p.front().second;
    std::vector<const std::pair<int32_t, Logprob>*> by_rank;
    for (const auto& entry : p) by_rank.push_back(&entry);
    std::sort(by_rank.begin(), by_rank.end(), [](auto* a, auto* b) { return a->second.rank < b->second.rank; });
    Json alternatives = Json::array();
    for (const auto* e : by_rank) {
      if (static_cast<int64_t>(alternatives.size()) >= top) break;
      if (e->second.rank > top) continue;
      alternatives.push_back({{"token", e->second.decoded_token},
                              {"logprob", e->second.logprob},
                              {"bytes", bytes_of(e->second.decoded_token)}});
    }
    content.push_back({{"token", chosen.decoded_token},
                       {"logprob", chosen.logprob},
                       {"bytes", bytes_of(chosen.decoded_token)},
                       {"top_logprobs", alternatives}});
  }
  return Json{{"content", content}};
}

}  // namespace pagellm::server
