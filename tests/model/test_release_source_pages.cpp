// After packing, LlamaModel drops the mapped file's pages of the weights it copied (and the GGUF
// loader those of the Q/K tensors it un-permuted): they leave this process's RAM, measured from
// /proc/self/pagemap, while outputs stay exact: greedy ids still match ref_llama.py's, and the
// embedding rows, read by lookup, page back in with the same bits.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "loader/gguf.h"
#include "model/llama_model.h"
#include "model_runner_for_tests.h"
#include "resident_pages.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::resident_pages;
using test::whole_pages;

// Whether `p` lies in a mapping of a file whose path ends with `suffix` (from /proc/self/maps, not
// from the code under test).
bool in_file_mapping(const void* p, const std::string& suffix) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto at = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2 || at < lo || at >= hi) continue;
    return line.size() >= suffix.size() && line.compare(line.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return false;
}

std::vector<const TensorView*> packed_views(const WeightStore& w, const ModelConfig& c) {
  std::vector<const TensorView*> out;
  for (int64_t l = 0; l < c.num_layers; ++l)
    for (const char* name : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
      out.push_back(&w.get("model.layers." + std::to_string(l) + "." + name + ".weight"));
  const TensorView* head = w.find("lm_head.weight");
  out.push_back(head ? head : &w.get("model.embed_tokens.weight"));
  return out;
}

struct Case {
  std::string path;         // under shared/
  std::string file_suffix;  // the mapped file the weights come from
};

class ReleaseSourcePages : public ::testing::TestWithParam<Case> {};

TEST_P(ReleaseSourcePages, PackedWeightsLeaveRamAndOutputsStayExact) {
  const Case& tc = GetParam();
  std::shared_ptr<const LoadedModel> loaded(load_model(test::shared_dir() + "/" + tc.path));
  const WeightStore& w = loaded->weights;

  if (loaded->gguf) {  // Q/K were un-permuted into owned copies at load: their file pages are gone.
    for (const GgufTensorInfo& t : loaded->gguf->tensors()) {
      if (t.name.find("attn_q.weight") != std::string::npos || t.name.find("attn_k.weight") != std::string::npos) {
        EXPECT_EQ(resident_pages(t.view.data, size_t(t.view.nbytes())), 0) << t.name;
      }
    }
  }

  std::vector<const TensorView*> packed = packed_views(w, loaded->config);
  int64_t mapped_pages = 0;
  for (const TensorView* v : packed) {
    if (!in_file_mapping(v->data, tc.file_suffix)) continue;
    test::touch_pages(v->data, size_t(v->nbytes()));
    mapped_pages += whole_pages(v->data, size_t(v->nbytes()));
  }
  ASSERT_GT(mapped_pages, 10) << "the fixture's weights should span pages";
  int64_t resident_before = 0;
  for (const TensorView* v : packed)
    if (in_file_mapping(v->data, tc.file_suffix)) resident_before += resident_pages(v->data, size_t(v->nbytes()));
  ASSERT_EQ(resident_before, mapped_pages);

  LlamaModel model(loaded);
  // The token-embedding table is read in place by lookups; the model maps it whole at load so that
  // no decode step waits on a page fault for a token it has not seen before.
  const TensorView& embed_table = w.get("model.embed_tokens.weight");
  if (in_file_mapping(embed_table.data, tc.file_suffix)) {
    EXPECT_EQ(resident_pages(embed_table.data, size_t(embed_table.nbytes())),
              whole_pages(embed_table.data, size_t(embed_table.nbytes())));
  }
  for (const TensorView* v : packed) {
    if (v == &embed_table) continue;  // tied: packed as the LM head, and mapped for lookups
    if (in_file_mapping(v->data, tc.file_suffix)) {
      EXPECT_EQ(resident_pages(v->data, size_t(v->nbytes())), 0) << "packed weights' source pages stay resident";
    }
  }

  const Json expected = read_json_file(test::shared_dir() + "/models/stories260K/expected/greedy.json");
  for (const Json& c : expected["cases"]) {
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto want = c["generated_ids"].get<std::vector<int32_t>>();
    const auto safe = c["safe_prefix"].get<size_t>();
    const auto got = test::greedy(model, prompt, static_cast<int64_t>(want.size()));
    EXPECT_EQ(std::vector<int32_t>(got.begin(), got.begin() + safe),
              std::vector<int32_t>(want.begin(), want.begin() + safe))
        << c["name"];
  }

  // Dropping every page again (embeddings and norms included) changes no bit: rows fault back in.
  const std::vector<int32_t> prompt{1, 403, 407, 261, 378, 500, 3, 77};
  const std::vector<int32_t> table = test::identity_blocks(1);
  const std::vector<float> before = test::logits_in_chunks(model, prompt, 8, table, 1);
  for (const auto& [name, view] : w.all()) w.release_source_pages(view);
  const TensorView& embed = w.get("model.embed_tokens.weight");
  if (in_file_mapping(embed.data, tc.file_suffix)) {
    EXPECT_EQ(resident_pages(embed.data, size_t(embed.nbytes())), 0);
  }
  const std::vector<float> after = test::logits_in_chunks(model, prompt, 8, table, 1);
  ASSERT_EQ(before.size(), after.size());
  EXPECT_EQ(std::memcmp(before.data(), after.data(), before.size() * sizeof(float)), 0);
  if (in_file_mapping(embed.data, tc.file_suffix)) {
    EXPECT_GT(resident_pages(embed.data, size_t(embed.nbytes())), 0) << "looked-up rows paged back in";
  }
}

INSTANTIATE_TEST_SUITE_P(Stories, ReleaseSourcePages,
                         ::testing::Values(Case{"models/stories260K/stories260K.gguf", "stories260K.gguf"},
                                           Case{"models/stories260K/hf", "model.safetensors"}),
                         [](const auto& info) { return info.index == 0 ? std::string("gguf") : std::string("hf"); });

}  // namespace
}  // namespace pagellm
