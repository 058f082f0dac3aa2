#include "server/logprobs_json.h"

#include <algorithm>

namespace pagellm::server {
namespace {

Json bytes_of(const std::string& s) {
  Json out = Json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

double clamped(double logprob) { return std::max(logprob, -9999.0); }

std::string token_text(int32_t id, const Logprob& lp, bool tokens_as_ids) {
  return tokens_as_ids ? "token_id:" + std::to_string(id) : lp.decoded_token;
}

}  // namespace

Json completion_logprobs_json(const std::vector<LogprobsEntry>& entries, bool tokens_as_ids) {
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(), offsets = Json::array();
  for (const LogprobsEntry& e : entries) {
    offsets.push_back(e.text_offset);
    if (!e.logprobs || e.logprobs->empty()) {
      tokens.push_back(tokens_as_ids ? "token_id:" + std::to_string(e.id) : e.token);
      token_logprobs.push_back(nullptr);
      top.push_back(nullptr);
      continue;
    }
    const auto& [id, chosen] = e.logprobs->front();
    tokens.push_back(token_text(id, chosen, tokens_as_ids));
    token_logprobs.push_back(clamped(chosen.logprob));
    Json alternatives = Json::object();
    for (const auto& [alt, lp] : *e.logprobs) alternatives[token_text(alt, lp, tokens_as_ids)] = clamped(lp.logprob);
    top.push_back(std::move(alternatives));
  }
  return Json{{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

Json chat_logprobs_json(const std::vector<PositionLogprobs>& positions, int64_t top, bool tokens_as_ids) {
  Json content = Json::array();
  for (const PositionLogprobs& p : positions) {
    if (p.empty()) continue;
    const auto& [id, chosen] = p.front();
    std::vector<const std::pair<int32_t, Logprob>*> by_rank;
    for (const auto& entry : p) by_rank.push_back(&entry);
    std::stable_sort(by_rank.begin(), by_rank.end(), [](auto* a, auto* b) { return a->second.rank < b->second.rank; });
    Json alternatives = Json::array();
    for (const auto* e : by_rank) {
      if (static_cast<int64_t>(alternatives.size()) >= top) break;
      if (e->second.rank > top) continue;
      alternatives.push_back({{"token", token_text(e->first, e->second, tokens_as_ids)},
                              {"logprob", clamped(e->second.logprob)},
                              {"bytes", bytes_of(e->second.decoded_token)}});
    }
    // `bytes` are always the text's UTF-8 (vLLM), even when tokens are sent as ids.
    content.push_back({{"token", token_text(id, chosen, tokens_as_ids)},
                       {"logprob", clamped(chosen.logprob)},
                       {"bytes", bytes_of(chosen.decoded_token)},
                       {"top_logprobs", alternatives}});
  }
  return Json{{"content", content}};
}

Json position_logprobs_json(const PositionLogprobs& position) {
  Json entry = Json::object();
  for (const auto& [id, lp] : position)
    entry[std::to_string(id)] = {
        {"logprob", clamped(lp.logprob)}, {"rank", lp.rank}, {"decoded_token", lp.decoded_token}};
  return entry;
}

Json prompt_logprobs_json(const std::vector<std::optional<PositionLogprobs>>& positions) {
  Json out = Json::array();
  for (const auto& p : positions) out.push_back(p ? position_logprobs_json(*p) : Json(nullptr));
  return out;
}

}  // namespace pagellm::server
