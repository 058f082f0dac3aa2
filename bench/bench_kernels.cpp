// Kernel microbenchmarks on bench-0.5b's shapes (hidden 896, 14 heads / 2 KV heads of 64, ffn 4864,
// vocab 32000). Counters: GB/s = weight bytes streamed per second (what bounds M = 1), GFLOP/s =
// 2*M*N*K per second (what bounds big M). Compare with machine_limits (docs/perf/kernels.md), or
// with BM_ColdRead in the same run where machine_limits does not build (no AVX-512).
//   build/release/bench/bench_kernels --benchmark_filter=Packed --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "bench_shapes.h"
#include "kernels/cpu/amx_matmul.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/stream_read.h"
#include "model/llama_model.h"
#include "tensor/aligned_buffer.h"
#include "tensor/convert.h"

namespace pagellm::kernels {
namespace {

using bench::kShapes;
using bench::Shape;

struct Weight {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Weight random_weight(DType dt, int64_t n, int64_t k) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  Weight w;
  w.view = TensorView{dt, {n, k}, nullptr};
  w.bytes.resize(static_cast<size_t>(w.view.nbytes()));
  if (dt == DType::kQ8_0) {
    auto* b = reinterpret_cast<BlockQ8_0*>(w.bytes.data());
    for (int64_t i = 0; i < n * k / 32; ++i) {
      b[i].scale_f16 = f32_to_f16(0.001f);
      for (auto& q : b[i].qs) q = static_cast<int8_t>(rng() % 255 - 127);
    }
  } else {
    for (int64_t i = 0; i < n * k; ++i) {
      const float f = nd(rng);
      if (dt == DType::kF32) reinterpret_cast<float*>(w.bytes.data())[i] = f;
      if (dt == DType::kBF16) reinterpret_cast<uint16_t*>(w.bytes.data())[i] = f32_to_bf16(f);
      if (dt == DType::kF16) reinterpret_cast<uint16_t*>(w.bytes.data())[i] = f32_to_f16(f);
    }
  }
  w.view.data = w.bytes.data();
  return w;
}

// Which PackedWeight kernels run on this CPU (AMX aside).
std::string kernel_path_name(bool int8 = false) {
  if (int8) return cpu_has_avx512_vnni() ? "avx512-vnni" : cpu_has_avx2() ? "avx2" : "portable";
  return cpu_has_avx512_bf16() ? "avx512" : cpu_has_avx2() ? "avx2" : "portable";
}

void set_counters(benchmark::State& state, int64_t m, int64_t n, int64_t k, double weight_bytes) {
  const auto it = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(weight_bytes * it / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(m) * double(n) * double(k) * it / 1e9, benchmark::Counter::kIsRate);
}

// The precision a benchmark's argument names: 0 exact, 1 bf16, 2 and 3 the same with AMX off (the
// AVX-512 FMA kernels), 4 int8, 5 int8 on the AVX2 tiles also where AVX-512 VNNI ones would run
// (the A/B of the VNNI tiles), 6 int8 with AMX off (the VNNI tiles: the A/B of the AMX int8 tiles).
MatmulPrecision precision_arg(int64_t arg) {
  return arg >= 4 ? MatmulPrecision::kInt8 : arg % 2 ? MatmulPrecision::kBF16 : MatmulPrecision::kExact;
}
bool amx_off_arg(int64_t arg) { return arg == 2 || arg == 3 || arg == 6; }
bool avx2_int8_arg(int64_t arg) { return arg == 5; }
std::string precision_label(const PackedWeight& w, int64_t arg) {
  return w.int8_compute() ? " int8" : arg % 2 ? " bf16" : " exact";
}

// args: shape index, M, dtype, precision (precision_arg)
void BM_Packed(benchmark::State& state) {
  const Shape s = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  const auto dt = static_cast<DType>(state.range(2));
  const auto prec = precision_arg(state.range(3));
  const bool amx_off = amx_off_arg(state.range(3));
  Weight w = random_weight(dt, s.n, s.k);
  PackedWeight packed(w.view, nullptr, prec);
  std::vector<float> x(static_cast<size_t>(m * s.k), 0.5f), y(static_cast<size_t>(m * s.n));
  amx::force_disabled(amx_off);
  force_avx2_kernels(avx2_int8_arg(state.range(3)));
  for (auto _ : state) {
    packed.forward(x.data(), m, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const std::string path = packed.uses_amx_int8(m) ? "amx-int8" : kernel_path_name(packed.int8_compute());
  const bool amx = packed.uses_amx();  // before AMX is allowed again
  force_avx2_kernels(false);
  amx::force_disabled(false);
  state.SetLabel(std::string(s.name) + " " + std::string(dtype_name(dt)) + precision_label(packed, state.range(3)) +
                 (amx ? " amx" : " " + path));
  set_counters(state, m, s.n, s.k, static_cast<double>(w.view.nbytes()));
}

void PackedArgs(benchmark::internal::Benchmark* b) {
  for (int64_t shape = 0; shape < 5; ++shape) {
    for (int64_t m : {1, 16, 64, 256, 512}) {
      for (int64_t prec = 0; prec < 4; ++prec) b->Args({shape, m, static_cast<int64_t>(DType::kBF16), prec});
    }
    for (int64_t m : {1, 2, 4, 6, 8, 16, 64, 512})
      for (int64_t prec : {0, 4, 5, 6}) b->Args({shape, m, static_cast<int64_t>(DType::kQ8_0), prec});
    b->Args({shape, 1, static_cast<int64_t>(DType::kF16), 0});
    b->Args({shape, 1, static_cast<int64_t>(DType::kF32), 0});
  }
}
BENCHMARK(BM_Packed)->Apply(PackedArgs)->UseRealTime()->Unit(benchmark::kMicrosecond);

// M = 1 with weights that do not stay in cache: enough packed copies to exceed the 480 MiB L3,
// used round-robin, so every byte comes from DRAM as in a real decode step over all layers.
// args: shape index, dtype, precision (precision_arg).
void BM_PackedColdM1(benchmark::State& state) {
  const Shape s = kShapes[state.range(0)];
  const auto dt = static_cast<DType>(state.range(1));
  const auto prec = precision_arg(state.range(2));
  const bool amx_off = amx_off_arg(state.range(2));
  Weight w = random_weight(dt, s.n, s.k);
  const auto bytes = static_cast<double>(w.view.nbytes());
  const auto copies = static_cast<size_t>(std::ceil(640e6 / bytes));
  std::vector<PackedWeight> packed;
  packed.reserve(copies);
  for (size_t i = 0; i < copies; ++i) packed.emplace_back(w.view, nullptr, prec);
  std::vector<float> x(static_cast<size_t>(s.k), 0.5f), y(static_cast<size_t>(s.n));
  size_t next = 0;
  amx::force_disabled(amx_off);
  force_avx2_kernels(avx2_int8_arg(state.range(2)));
  for (auto _ : state) {
    packed[next].forward(x.data(), 1, y.data());
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(y.data());
  }
  const std::string path = kernel_path_name(packed[0].int8_compute());
  const bool amx = packed[0].uses_amx();  // before AMX is allowed again
  force_avx2_kernels(false);
  amx::force_disabled(false);
  state.SetLabel(std::string(s.name) + " " + std::string(dtype_name(dt)) + precision_label(packed[0], state.range(2)) +
                 (amx ? " amx" : " " + path) + " cold");
  set_counters(state, 1, s.n, s.k, bytes);
}
BENCHMARK(BM_PackedColdM1)
    ->ArgsProduct({{0, 2, 3, 4},
                   {static_cast<int64_t>(DType::kBF16), static_cast<int64_t>(DType::kQ8_0)},
                   {0, 1, 2, 3}})
    ->ArgsProduct({{0, 2, 3, 4}, {static_cast<int64_t>(DType::kQ8_0)}, {4, 5}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The bound BM_PackedColdM1 is held to, in the same process and minutes: a plain read (xor_words)
// of as many bytes as the shape's BF16 weights, one contiguous range per thread (xor_words_parallel,
// as `bench latency --weight-read` reads), over copies used round-robin beyond the L3 like the matmul's. args: shape
// index.
void BM_ColdRead(benchmark::State& state) {
  const Shape s = kShapes[state.range(0)];
  const int64_t bytes = s.n * s.k * 2;
  const auto copies = static_cast<size_t>(std::ceil(640e6 / static_cast<double>(bytes)));
  std::vector<AlignedBuffer> buffers;
  buffers.reserve(copies);
  for (size_t i = 0; i < copies; ++i) {
    buffers.emplace_back(static_cast<size_t>(bytes));
    std::memset(buffers.back().data(), static_cast<int>(i), static_cast<size_t>(bytes));
  }
  uint64_t sink = 0;
  size_t next = 0;
  for (auto _ : state) {
    const std::span<const uint8_t> span(buffers[next].data(), static_cast<size_t>(bytes));
    sink ^= xor_words_parallel({&span, 1});
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(sink);
  }
  state.SetLabel(std::string(s.name) + " read cold");
  set_counters(state, 0, 0, 0, static_cast<double>(bytes));
}
BENCHMARK(BM_ColdRead)->DenseRange(0, 4)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A decode step's projections in their order (per layer qkv, o_proj, gate_up with the SwiGLU
// epilogue, down; then the LM head) for one row, beyond the L3 as
// in a real step, each call handed the next weight as the model hands it. Every iteration also
// reads the same packed bytes plainly, once in one pool run (the bound, as `bench latency
// --weight-read` reads) and once a pool run per weight (the bound with a decode step's barriers),
// so the ratios come from the same seconds: the steadiest split of a step's gap on a noisy host.
// Time: the projections. args: model shape (0 bench-110m, 1 bench-0.5b), weights (ChainWeights:
// 0 BF16 computed in bf16, 1 the same stored coded where the CPU codes them, as `--weight-coding
// auto` does for one stream, 2 Q8_0 in int8, 3 Q8_0 in float32, 4 Q8_0 in int8 on the AVX2 tiles
// also where AVX-512 VNNI ones would run).
struct ChainShape {
  const char* name;
  int layers;
  int64_t hidden, qkv, ffn, vocab;
};
constexpr ChainShape kChainShapes[] = {{"bench-110m", 12, 768, 1280, 2048, 32000},
                                       {"bench-0.5b", 24, 896, 1152, 4864, 32000}};

struct ProjectionChain {
  std::vector<PackedWeight> weights;
  std::vector<std::span<const uint8_t>> bytes;  // each weight's packed bytes
  double total_bytes = 0;
};

// How a chain's weights are stored and computed (BM_ProjectionChainM1's second argument).
enum class ChainWeights { kBf16Raw, kBf16Coded, kQ8Int8, kQ8Float32, kQ8Int8Avx2 };

const ProjectionChain& projection_chain(int64_t shape_index, ChainWeights kind) {
  static std::map<std::pair<int64_t, ChainWeights>, ProjectionChain> chains;  // built once: the 0.5B's takes seconds
  auto [it, fresh] = chains.try_emplace(std::pair{shape_index, kind});
  ProjectionChain& chain = it->second;
  if (!fresh) return chain;
  const ChainShape& c = kChainShapes[shape_index];
  const bool q8 =
      kind == ChainWeights::kQ8Int8 || kind == ChainWeights::kQ8Float32 || kind == ChainWeights::kQ8Int8Avx2;
  const MatmulPrecision precision = kind == ChainWeights::kQ8Int8 || kind == ChainWeights::kQ8Int8Avx2
                                        ? MatmulPrecision::kInt8
                                    : kind == ChainWeights::kQ8Float32 ? MatmulPrecision::kExact
                                                                       : MatmulPrecision::kBF16;
  // random_weight gives the same values for a shape every time: one source per shape, packed as
  // often as the model has it.
  std::map<std::pair<int64_t, int64_t>, Weight> sources;
  auto pack = [&](std::vector<std::pair<int64_t, int64_t>> parts, Epilogue epilogue) {
    std::vector<LinearPart> linear;
    for (auto [n, k] : parts) {
      auto [source, made] = sources.try_emplace({n, k});
      if (made) source->second = random_weight(q8 ? DType::kQ8_0 : DType::kBF16, n, k);
      linear.push_back({&source->second.view, nullptr});
    }
    chain.weights.emplace_back(linear, precision, nullptr, kind == ChainWeights::kBf16Coded, epilogue);
  };
  chain.weights.reserve(static_cast<size_t>(4 * c.layers + 1));
  for (int l = 0; l < c.layers; ++l) {
    pack({{c.qkv, c.hidden}}, Epilogue::kNone);
    pack({{c.hidden, c.hidden}}, Epilogue::kNone);
    pack({{c.ffn, c.hidden}, {c.ffn, c.hidden}}, Epilogue::kSiluMul);
    pack({{c.hidden, c.ffn}}, Epilogue::kNone);
  }
  pack({{c.vocab, c.hidden}}, Epilogue::kNone);
  for (const PackedWeight& w : chain.weights) {
    chain.bytes.push_back(w.packed_bytes());
    chain.total_bytes += static_cast<double>(w.packed_bytes().size());
  }
  return chain;
}

void BM_ProjectionChainM1(benchmark::State& state) {
  const ChainShape& c = kChainShapes[state.range(0)];
  const auto kind = static_cast<ChainWeights>(state.range(1));
  const ProjectionChain& chain = projection_chain(state.range(0), kind);
  const std::vector<float> x(static_cast<size_t>(std::max(c.hidden, c.ffn)), 0.5f);
  std::vector<float> y(static_cast<size_t>(c.vocab));
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  double chain_s = 0, read_s = 0, per_call_read_s = 0;
  uint64_t sink = 0;
  force_avx2_kernels(kind == ChainWeights::kQ8Int8Avx2);
  for (auto _ : state) {
    const auto t0 = Clock::now();
    sink ^= xor_words_parallel(chain.bytes);
    const auto t1 = Clock::now();
    for (size_t i = 0; i < chain.weights.size(); ++i) {
      const PackedWeight* next = i + 1 < chain.weights.size() ? &chain.weights[i + 1] : &chain.weights[0];
      chain.weights[i].forward(x.data(), 1, y.data(), next);
    }
    const auto t2 = Clock::now();
    for (const std::span<const uint8_t>& one : chain.bytes) sink ^= xor_words_parallel({&one, 1});
    const auto t3 = Clock::now();
    benchmark::DoNotOptimize(sink);
    benchmark::DoNotOptimize(y.data());
    read_s += seconds(t0, t1);
    chain_s += seconds(t1, t2);
    per_call_read_s += seconds(t2, t3);
    state.SetIterationTime(seconds(t1, t2));
  }
  const std::string path = chain.weights[0].uses_amx() ? "amx" : kernel_path_name(chain.weights[0].int8_compute());
  force_avx2_kernels(false);
  const double bytes = chain.total_bytes * static_cast<double>(state.iterations());
  const char* weights = chain.weights[0].int8_compute()    ? "q8_0 int8 "
                        : kind == ChainWeights::kQ8Float32 ? "q8_0 float32 "
                        : chain.weights[0].coded()         ? "bf16 coded "
                                                           : "bf16 raw ";
  state.SetLabel(std::string(c.name) + " projections " + weights + path + " cold");
  state.counters["GB/s"] = bytes / chain_s / 1e9;
  state.counters["read GB/s"] = bytes / read_s / 1e9;
  state.counters["% of read"] = 100 * read_s / chain_s;
  state.counters["% of per-call read"] = 100 * per_call_read_s / chain_s;
}
BENCHMARK(BM_ProjectionChainM1)->ArgsProduct({{0, 1}, {0, 1, 2, 3, 4}})->UseManualTime()->Unit(benchmark::kMillisecond);

// The reference path (baseline): kernels::matmul on BF16 weights.
// A batch decode step's projections: BF16 weights computed in bf16 for M rows, cold like
// BM_PackedColdM1 (copies used round-robin beyond the L3). args: shape index, M, coded (0 raw, 1
// coded where the CPU codes weights).
void BM_PackedColdBatch(benchmark::State& state) {
  const Shape s = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  const bool code = state.range(2) != 0;
  Weight w = random_weight(DType::kBF16, s.n, s.k);
  const auto bytes = static_cast<double>(w.view.nbytes());
  const auto copies = static_cast<size_t>(std::ceil(640e6 / bytes));
  std::vector<PackedWeight> packed;
  packed.reserve(copies);
  for (size_t i = 0; i < copies; ++i) packed.emplace_back(w.view, nullptr, MatmulPrecision::kBF16, nullptr, code);
  std::vector<float> x(static_cast<size_t>(m * s.k), 0.5f), y(static_cast<size_t>(m * s.n));
  size_t next = 0;
  for (auto _ : state) {
    packed[next].forward(x.data(), m, y.data());
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(s.name) + (packed[0].coded() ? " coded" : " raw") + " cold");
  set_counters(state, m, s.n, s.k, bytes);
}
BENCHMARK(BM_PackedColdBatch)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {8, 16, 32, 64}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_ReferenceMatmul(benchmark::State& state) {
  const Shape s = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  Weight w = random_weight(DType::kBF16, s.n, s.k);
  std::vector<float> x(static_cast<size_t>(m * s.k), 0.5f), y(static_cast<size_t>(m * s.n));
  for (auto _ : state) {
    matmul(w.view, x.data(), m, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(s.name);
  set_counters(state, m, s.n, s.k, static_cast<double>(w.view.nbytes()));
}
BENCHMARK(BM_ReferenceMatmul)->ArgsProduct({{0, 2, 3, 4}, {1, 64}})->UseRealTime()->Unit(benchmark::kMicrosecond);

// Decode attention through the model's path (paged_attention_batch, both threads): args batch of
// sequences, context length, shape (0: bench-0.5b's 14 heads / 2 KV heads, 1: bench-110m's 12 / 4;
// head_dim 64), and for decode whether the K/V come from DRAM (1: enough copies of the cache, used
// round-robin, to exceed the 32 MiB L3, as in a decode step, where every layer's weights stream
// through the cache between two visits of a layer's K/V), and the cache's element type (0 float32,
// 1 bfloat16). GB/s counts the K/V bytes read.
void BM_PagedAttention(benchmark::State& state, bool prefill) {
  const int64_t seqs = state.range(0), ctx = state.range(1), B = 16, queries = prefill ? ctx : 1;
  const bool cold = !prefill && state.range(3) != 0;
  const KVDType dtype = state.range(4) != 0 ? KVDType::kBFloat16 : KVDType::kFloat32;
  const AttentionShape shape =
      state.range(2) == 0 ? AttentionShape{14, 2, 64, 0.125f} : AttentionShape{12, 4, 64, 0.125f};
  const int64_t H = shape.num_heads, KVH = shape.num_kv_heads, hd = shape.head_dim;
  const int64_t blocks_per = (ctx + B - 1) / B;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  // Allocated like the engine's KV cache (AlignedBuffer: 2 MiB pages where the kernel gives them).
  const auto kv_elems = static_cast<size_t>(seqs * blocks_per * 2 * B * KVH * hd);
  const auto kv_bytes = static_cast<double>(kv_elems) * static_cast<double>(kv_elem_bytes(dtype));
  const size_t copies = cold ? static_cast<size_t>(std::ceil(96e6 / kv_bytes)) : 1;
  std::vector<AlignedBuffer> storage;
  for (size_t c = 0; c < copies; ++c) {
    storage.emplace_back(static_cast<size_t>(kv_bytes));
    for (size_t i = 0; i < kv_elems; ++i) {
      if (dtype == KVDType::kBFloat16)
        storage.back().as<uint16_t>()[i] = f32_to_bf16(ud(rng));
      else
        storage.back().as<float>()[i] = ud(rng);
    }
  }
  std::vector<int32_t> tables(static_cast<size_t>(seqs * blocks_per));
  for (size_t i = 0; i < tables.size(); ++i) tables[i] = static_cast<int32_t>(i);
  std::vector<AttentionSequence> batch(static_cast<size_t>(seqs));
  for (int64_t s = 0; s < seqs; ++s)
    batch[static_cast<size_t>(s)] = {s * queries, queries, ctx, tables.data() + s * blocks_per};
  std::vector<float> q(static_cast<size_t>(seqs * queries * H * hd)), out(q.size());
  for (float& v : q) v = ud(rng);
  size_t next = 0;
  for (auto _ : state) {
    const KVLayerView kv{storage[next].data(), seqs * blocks_per, B, KVH, hd, dtype};
    paged_attention_batch(shape, q.data(), batch.data(), seqs, kv, out.data());
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(out.data());
  }
  const double read_bytes = double(seqs) * double(ctx) * 2 * double(KVH * hd) * double(kv_elem_bytes(dtype));
  state.counters["GB/s"] =
      benchmark::Counter(read_bytes * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(state.range(2) == 0 ? "14/2 heads" : "12/4 heads") + (cold ? " cold" : "") +
                 (dtype == KVDType::kBFloat16 ? " bf16" : " f32"));
}
void BM_PagedAttentionDecode(benchmark::State& state) { BM_PagedAttention(state, false); }
BENCHMARK(BM_PagedAttentionDecode)
    ->ArgsProduct({{1, 16}, {64, 256, 2048}, {0, 1}, {0, 1}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
// One prompt of ctx tokens attending to itself (a prefill's attention).
void BM_PagedAttentionPrefill(benchmark::State& state) { BM_PagedAttention(state, true); }
BENCHMARK(BM_PagedAttentionPrefill)
    ->ArgsProduct({{1}, {512}, {0, 1}, {0}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Whole forward passes of the model at $PAGELLM_BENCH_MODEL (e.g. make_random_model.py's
// bench-0.5b GGUF). Decode: `batch` sequences with 256 cached tokens each, one new token each
// (tokens/s = batch / step time). Prefill: one prompt of `len` tokens.
std::shared_ptr<LlamaModel> bench_model() {
  static std::shared_ptr<LlamaModel> model = [] {
    const char* path = std::getenv("PAGELLM_BENCH_MODEL");
    return path ? std::make_shared<LlamaModel>(std::shared_ptr<const LoadedModel>(load_model(path))) : nullptr;
  }();
  return model;
}

void BM_ModelDecode(benchmark::State& state) {
  auto model = bench_model();
  if (!model) return state.SkipWithError("set PAGELLM_BENCH_MODEL");
  const int64_t batch = state.range(0), ctx = 256, B = 16, blocks_per = (ctx + 64) / B;
  KVCache cache(model->config(), batch * blocks_per, B);
  std::vector<int32_t> prompt(ctx);
  for (int64_t i = 0; i < ctx; ++i) prompt[static_cast<size_t>(i)] = static_cast<int32_t>(1 + i * 7 % 30000);
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < blocks_per; ++i)
      tables[static_cast<size_t>(b)].push_back(static_cast<int32_t>(b * blocks_per + i));
    ForwardBatch fill;
    fill.add_sequence(prompt, 0, tables[static_cast<size_t>(b)], B);
    model->forward(fill, cache);
  }
  const std::vector<int32_t> tok{42};
  for (auto _ : state) {
    ForwardBatch step;
    for (int64_t b = 0; b < batch; ++b) step.add_sequence(tok, ctx, tables[static_cast<size_t>(b)], B);
    benchmark::DoNotOptimize(model->forward(step, cache));
  }
  state.counters["tok/s"] =
      benchmark::Counter(double(batch) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ModelDecode)->Arg(1)->Arg(8)->Arg(32)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ModelPrefill(benchmark::State& state) {
  auto model = bench_model();
  if (!model) return state.SkipWithError("set PAGELLM_BENCH_MODEL");
  const int64_t len = state.range(0), B = 16;
  KVCache cache(model->config(), (len + B - 1) / B, B);
  std::vector<int32_t> prompt(static_cast<size_t>(len)), table(static_cast<size_t>((len + B - 1) / B));
  for (int64_t i = 0; i < len; ++i) prompt[static_cast<size_t>(i)] = static_cast<int32_t>(1 + i * 7 % 30000);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
  for (auto _ : state) {
    ForwardBatch fill;
    fill.add_sequence(prompt, 0, table, B);
    benchmark::DoNotOptimize(model->forward(fill, cache));
  }
  state.counters["tok/s"] =
      benchmark::Counter(double(len) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ModelPrefill)->Arg(128)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pagellm::kernels
