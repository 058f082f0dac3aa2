#include "model/model_loader.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "loader/ggml_quants.h"
#include "loader/gguf.h"
#include "loader/safetensors.h"
#include "model/expected_tensors.h"
#include "model/gguf_weights.h"
#include "model/hf_fields.h"
#include "util/error.h"
#include "util/logging.h"

namespace pagellm {
namespace {

namespace fs = std::filesystem;

GenerationDefaults read_generation_config(const std::string& path) {
  Json j = read_json_file(path);
  if (!j.is_object()) fail(ErrorCode::kInvalidModel, "{}: not a JSON object", path);
  HfFields f(j, path);
  GenerationDefaults g;
  if (f.find("temperature")) g.temperature = f.number("temperature");
  if (f.find("top_p")) g.top_p = f.number("top_p");
  if (f.find("top_k")) g.top_k = f.integer("top_k");
  if (f.find("repetition_penalty")) g.repetition_penalty = f.number("repetition_penalty");
  if (f.find("max_new_tokens")) g.max_new_tokens = f.integer("max_new_tokens");
  if (const Json* eos = f.find("eos_token_id")) token_ids(*eos, path, "eos_token_id", &g.eos_token_ids);
  return g;
}

// Neither format guarantees aligned tensor data (safetensors headers need not be padded,
// GGUF may say general.alignment = 1), and kernels load whole elements, so misaligned
// tensors are copied into an aligned buffer. Q8_0's 34-byte blocks are never aligned: its
// readers must load the scale bytewise anyway.
TensorView aligned(const TensorView& view, WeightStore* store) {
  const DTypeInfo& info = dtype_info(view.dtype);
  const auto element_bytes = static_cast<uintptr_t>(info.block_elems == 1 ? info.block_bytes : 1);
  if (reinterpret_cast<uintptr_t>(view.data) % element_bytes == 0) return view;
  AlignedBuffer& buffer = store->make_buffer(static_cast<size_t>(view.nbytes()));
  std::memcpy(buffer.data(), view.data, static_cast<size_t>(view.nbytes()));
  store->release_source_pages(view);
  TensorView copy = view;
  copy.data = buffer.data();
  return copy;
}

// Adds the tensors the config names to the store; others (e.g. rotary caches some
// checkpoints carry) are skipped.
void add_expected(const std::map<std::string, TensorView>& found, const std::vector<ExpectedTensor>& expected,
                  WeightStore* store) {
  std::set<std::string> wanted;
  for (const ExpectedTensor& e : expected) wanted.insert(e.name);
  for (const auto& [name, view] : found) {
    if (wanted.count(name))
      store->add(name, aligned(view, store));
    else
      log_debug("ignoring tensor {}", name);
  }
}

std::unique_ptr<LoadedModel> load_hf_dir(const std::string& dir) {
  auto m = std::make_unique<LoadedModel>();
  m->path = dir;
  m->hf_dir = dir;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  m->config = ModelConfig::from_hf_json(read_json_file(config_path), config_path);
  const fs::path generation_path = fs::path(dir) / "generation_config.json";
  if (fs::exists(generation_path)) m->generation = read_generation_config(generation_path.string());

  std::vector<std::shared_ptr<SafetensorsFile>> files = open_safetensors_dir(dir);
  std::map<std::string, TensorView> found;
  for (const auto& file : files) {
    m->weights.keep_alive(file);
    m->weights.add_mapped_file(file->file());
    found.insert(file->tensors().begin(), file->tensors().end());
  }
  const std::string source = files.size() == 1 ? files.front()->file()->path() : dir;
  std::vector<ExpectedTensor> expected = expected_tensors(m->config);
  check_tensors(found, expected, source);
  add_expected(found, expected, &m->weights);
  return m;
}

std::vector<float> read_rope_freqs(const GgufFile& g, const ModelConfig& config) {
  const GgufTensorInfo* t = g.find_tensor("rope_freqs.weight");
  if (!t) return {};
  if (t->view.dtype != DType::kF32 || t->view.shape != std::vector<int64_t>{config.head_dim / 2})
    fail(ErrorCode::kInvalidModel, "{}: tensor rope_freqs.weight is {} {}, expected F32 [{}] (head_dim/2)", g.path(),
         dtype_name(t->view.dtype), t->view.shape_string(), config.head_dim / 2);
  std::vector<float> divisors(static_cast<size_t>(config.head_dim / 2));
  std::memcpy(divisors.data(), t->view.data, divisors.size() * sizeof(float));
  for (float d : divisors)
    if (!(d > 0) || !std::isfinite(d))
      fail(ErrorCode::kInvalidModel, "{}: rope_freqs.weight holds a non-positive or non-finite divisor {}", g.path(),
           d);
  return divisors;
}

// llama.cpp permutes Q/K rows only for architectures using interleaved RoPE (llama);
// qwen2/qwen3 GGUFs keep HF order (NeoX RoPE).
int64_t qk_heads_to_unpermute(const ModelConfig& c, const std::string& name) {
  if (c.arch != Architecture::kLlama) return 0;
  auto ends_with = [&](const char* s) {
    size_t n = std::strlen(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  if (ends_with("self_attn.q_proj.weight") || ends_with("self_attn.q_proj.bias")) return c.num_heads;
  if (ends_with("self_attn.k_proj.weight") || ends_with("self_attn.k_proj.bias")) return c.num_kv_heads;
  return 0;
}

std::unique_ptr<LoadedModel> load_gguf(const std::string& path) {
  auto m = std::make_unique<LoadedModel>();
  m->path = path;
  m->gguf = GgufFile::open(path);
  const GgufFile& g = *m->gguf;
  m->weights.keep_alive(m->gguf);
  m->weights.add_mapped_file(g.file());
  m->config = ModelConfig::from_gguf(g);
  m->config.rope_freq_divisors = read_rope_freqs(g, m->config);

  std::map<std::string, TensorView> found;
  std::map<std::string, std::string> origin;
  std::map<std::string, int> converted;  // low-bit type name -> tensors re-quantized to Q8_0
  const auto convert_start = std::chrono::steady_clock::now();
  for (const GgufTensorInfo& t : g.tensors()) {
    const std::string name = gguf_to_hf_name(t.name);
    if (name.empty()) {
      if (t.name != "rope_freqs.weight") log_debug("{}: ignoring tensor {}", path, t.name);
      continue;
    }
    TensorView view = t.view;
    if (!t.quantized.empty()) {  // a low-bit llama.cpp format: the kernels read it as Q8_0
      // Freed once packed (the token embeddings, read in place, stay).
      AlignedBuffer& buffer = m->weights.make_released_buffer(static_cast<size_t>(view.nbytes()));
      convert_ggml_to_q8_0(t.ggml_type, t.quantized.data(), buffer.as<BlockQ8_0>(), view.numel());
      view.data = buffer.data();
      m->weights.release_source_bytes(t.quantized.data(), t.quantized.size());
      ++converted[ggml_quant_type(t.ggml_type)->name];
    }
    found.emplace(name, view);  // names are unique in the file and the mapping is one-to-one
    origin.emplace(name, t.name);
  }
  if (!converted.empty()) {
    std::string counts;
    for (const auto& [type, n] : converted) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, type);
    log_info("{}: re-quantized {} tensors to Q8_0 in {:.2f} s (docs/gguf_quants.md)", path, counts,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - convert_start).count());
  }
  std::vector<ExpectedTensor> expected = expected_tensors(m->config);
  check_tensors(found, expected, path, origin);
  add_expected(found, expected, &m->weights);

  std::vector<TensorView> unpermuted_sources;
  for (const auto& [name, view] : m->weights.all()) {
    const int64_t n_head = qk_heads_to_unpermute(m->config, name);
    if (n_head == 0) continue;
    AlignedBuffer& buffer = m->weights.make_buffer(static_cast<size_t>(view.nbytes()));
    unpermute_qk_rows(view, n_head, buffer.data(), fmt::format("{}: tensor {}", path, origin[name]));
    unpermuted_sources.push_back(view);
    TensorView permuted = view;
    permuted.data = buffer.data();
    m->weights.add(name, permuted);  // replaces the mmap view; the map's keys are unchanged
  }
  // Only the un-permuted copies are read from now on. Released after the last read: a fault on a
  // neighbouring tensor's page maps in the cached pages around it (the kernel's fault-around), so
  // pages released earlier in the loop could come back.
  for (const TensorView& view : unpermuted_sources) m->weights.release_source_pages(view);
  return m;
}

bool starts_with_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

std::unique_ptr<LoadedModel> load_model(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_hf_dir(path);
  if (!fs::exists(path, ec)) fail(ErrorCode::kNotFound, "{}: no such model file or directory", path);
  const bool gguf_suffix = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  if (gguf_suffix || starts_with_gguf_magic(path)) return load_gguf(path);
  fail(ErrorCode::kInvalidModel, "{}: neither an HF model directory nor a GGUF file", path);
}

}  // namespace pagellm
