#pragma once
// The kernels' worker threads: one process-wide pool, created on first use with one thread per
// CPU (PAGELLM_NUM_THREADS overrides). run() wakes the workers, runs fn(0) on the caller and
// fn(1..n-1) on workers, and returns when all are done. Idle workers spin briefly and then
// sleep on a condition variable, so a shared or oversubscribed machine does not burn a core in
// barriers (OpenMP's default active spinning made each region cost a scheduler time slice
// there). Which thread runs which index never changes a kernel's result.
//
// Pinning: when the process may run on at least as many CPUs as the pool has threads, worker i
// is pinned to the i-th CPU of the process's affinity mask (sched_getaffinity), so each keeps
// its cache contents across kernel calls and steps and no two workers share a CPU. The caller
// (index 0) is left free and the scheduler puts it on the CPU no worker has (mask CPU 0 when all
// are idle): pinning it would also pin every thread it starts later (affinity is inherited),
// e.g. the server's HTTP threads. The process-wide pool pins only with PAGELLM_PIN_THREADS=1:
// on shared cores pinning was slower (A/B in docs/perf/kernels.md); on a dedicated host it keeps
// each worker's caches warm.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pagellm::kernels {

class ThreadPool {
 public:
  static ThreadPool& instance();
  // pin: as described above; instance() pins when PAGELLM_PIN_THREADS=1.
  explicit ThreadPool(int num_threads, bool pin = false);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  // The CPU worker i (1 <= i < num_threads()) is pinned to, or -1 when the pool does not pin.
  int pinned_cpu(int i) const { return cpus_.empty() ? -1 : cpus_[static_cast<size_t>(i)]; }
  // Calls fn(i) for i in [0, n) on n threads (n clamped to num_threads()); nested calls from
  // inside fn run serially on the calling thread.
  void run(int n, const std::function<void(int)>& fn);

 private:
  void worker_loop(int index);

  std::vector<int> cpus_;  // per thread index (entry 0 unused: the caller); empty: not pinned
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one run() at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* fn_ = nullptr;
  int active_ = 0;           // threads taking part in the current run
  uint64_t generation_ = 0;  // bumped per run
  std::atomic<uint64_t> published_{0};
  std::atomic<int> pending_{0};  // workers still running the current fn
  bool stop_ = false;
};

// Calls fn(r0, r1) over consecutive ranges covering [0, rows): on the calling thread alone when
// rows * elems_per_row is below kParallelRowsMinElems (waking the pool would cost more than the
// work), else split evenly over the process-wide pool. For row-wise work whose result per row does
// not depend on the split (norms, activations, RoPE).
constexpr int64_t kParallelRowsMinElems = 1 << 16;
void parallel_for_rows(int64_t rows, int64_t elems_per_row, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace pagellm::kernels
