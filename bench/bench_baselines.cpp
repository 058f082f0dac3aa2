// The fair baselines the CPU performance issue names, on bench-0.5b's projection shapes (the same
// shapes and counters as bench_kernels' BM_Packed): OpenBLAS sgemm (float32 weights, so twice the
// bytes of ours; Debian's OpenBLAS is built without its bf16 GEMM, cblas_sbgemm) and oneDNN's matmul
// primitive (bf16 source and weights, weights reordered once into oneDNN's preferred blocked layout,
// float32 output). The activations are converted to bf16 outside the timed loop for oneDNN; PackedWeight
// converts its float32 activations inside the call. Threads: 2 (OpenBLAS: openblas_set_num_threads;
// oneDNN: its OpenMP runtime, OMP_NUM_THREADS).
//   build/release/bench/bench_baselines --benchmark_min_time=0.3
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <vector>

#include "bench_shapes.h"
#include "tensor/convert.h"

namespace pagellm {
namespace {

using bench::kShapes;
using bench::Shape;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> v(n);
  for (float& f : v) f = nd(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = f32_to_bf16(v[i]);
  return out;
}

void set_counters(benchmark::State& state, const Shape& s, int64_t m, double weight_bytes, const char* what) {
  const auto it = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(weight_bytes * it / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(m) * double(s.n) * double(s.k) * it / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(s.name) + " " + what);
}

// args: shape index, M
void BM_OpenBlasSgemm(benchmark::State& state) {
  const Shape s = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  openblas_set_num_threads(2);
  const std::vector<float> w = random_floats(size_t(s.n * s.k), 1), x = random_floats(size_t(m * s.k), 2);
  std::vector<float> y(size_t(m * s.n));
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(s.n), blasint(s.k), 1.0f, x.data(),
                blasint(s.k), w.data(), blasint(s.k), 0.0f, y.data(), blasint(s.n));
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, s, m, double(w.size() * sizeof(float)), "openblas sgemm f32");
}

void BM_OneDnnMatmulBf16(benchmark::State& state) {
  using dnnl::memory;
  const Shape s = kShapes[state.range(0)];
  const int64_t m = state.range(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const memory::dims src_dims{m, s.k}, wei_dims{s.k, s.n}, dst_dims{m, s.n};
  // Our weights are [N, K] row-major: as a K x N matrix that is the "ba" layout.
  const memory::desc src_md(src_dims, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc wei_user_md(wei_dims, memory::data_type::bf16, memory::format_tag::ba);
  const memory::desc wei_any_md(wei_dims, memory::data_type::bf16, memory::format_tag::any);
  const memory::desc dst_md(dst_dims, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_any_md, dst_md), eng);  // oneDNN 2.x API
  std::vector<uint16_t> w = to_bf16(random_floats(size_t(s.n * s.k), 1));
  std::vector<uint16_t> x = to_bf16(random_floats(size_t(m * s.k), 2));
  std::vector<float> y(size_t(m * s.n));
  memory wei_user(wei_user_md, eng, w.data()), wei(pd.weights_desc(), eng);
  dnnl::reorder(wei_user, wei).execute(strm, wei_user, wei);  // once, like our packing at load
  memory src(src_md, eng, x.data()), dst(dst_md, eng, y.data());
  const dnnl::matmul mm(pd);
  for (auto _ : state) {
    mm.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    strm.wait();
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, s, m, double(w.size() * sizeof(uint16_t)),
               (std::string("onednn bf16 ") + pd.impl_info_str()).c_str());
}

void Args(benchmark::internal::Benchmark* b) {
  for (int64_t shape = 0; shape < 5; ++shape)
    for (int64_t m : {1, 16, 64, 512}) b->Args({shape, m});
}
BENCHMARK(BM_OpenBlasSgemm)->Apply(Args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OneDnnMatmulBf16)->Apply(Args)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pagellm
