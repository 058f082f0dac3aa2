#pragma once
// The kernels' worker threads: one process-wide pool, created on first use with one thread per
// CPU the process may use (cpu_count.h; `--threads` or PAGELLM_NUM_THREADS overrides). run()
// wakes the workers, runs fn(0) on the caller and fn(1..n-1) on workers, and returns when all are
// done. Idle workers spin briefly and then sleep on a condition variable, so a shared or oversubscribed machine does
// not burn a core in barriers (OpenMP's default active spinning made each region cost a scheduler time slice there).
// Which thread runs which index never changes a kernel's result.
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

// Memory a thread will read in its next run: `streams` ranges of `bytes` each, `stride` apart.
// Loading it while the thread would otherwise wait keeps the memory busy through barriers and
// serial work (see ThreadPool::warm_when_idle).
struct WarmRegion {
  const uint8_t* base = nullptr;
  int64_t stride = 0;
  int64_t streams = 0;
  int64_t bytes = 0;
};

class ThreadPool {
 public:
  // The process-wide pool. Error(kInvalidArgument) when PAGELLM_NUM_THREADS is not a thread count.
  static ThreadPool& instance();
  // Sizes the process-wide pool before its first use (`--threads`); Error(kInvalidArgument) for a
  // count outside [1, kMaxThreads] or once the pool runs with another size.
  static void set_process_threads(int n);
  // The size the process-wide pool has, or will have when first used, without starting it (its
  // threads would not inherit a signal mask set later); Error(kInvalidArgument) when
  // PAGELLM_NUM_THREADS is not a thread count.
  static int process_threads();
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

  // Called from inside a run's fn: once this thread has finished its part it loads `region` into
  // its caches while it waits (a worker: until the next run is published, a few lines at a time;
  // the caller: until the workers are done), for the next kernel to find warm. A later call
  // replaces the region; outside a parallel run the call does nothing. Only the thread itself
  // benefits: a line in the other core's L2 reads slower than DRAM on the VMs measured.
  void warm_when_idle(const WarmRegion& region);
  // Has every thread forget the region it was handed: once this returns no thread reads memory
  // passed to warm_when_idle before the call. Whoever frees memory that may have been handed over
  // calls it first. Costs one run when a region was handed over since the last release, else
  // nothing.
  void release_warm_regions();
  // The process-wide pool's release_warm_regions(), when that pool exists (a pool never created or
  // already destroyed warms nothing).
  static void release_process_warm_regions();

 private:
  // Per thread index, written and read only by the thread running that index.
  struct alignas(64) IdleWarm {
    WarmRegion region;
    int64_t done = 0;  // bytes of each stream already loaded
  };
  void worker_loop(int index);
  // Loads the next part of slot `index`'s region; false when none is left.
  bool warm_step(int index);

  std::vector<int> cpus_;  // per thread index (entry 0 unused: the caller); empty: not pinned
  std::vector<std::thread> workers_;
  std::vector<IdleWarm> idle_warm_;  // per thread index
  std::mutex run_mutex_;             // one run() at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* fn_ = nullptr;
  int active_ = 0;           // threads taking part in the current run
  uint64_t generation_ = 0;  // bumped per run
  std::atomic<uint64_t> published_{0};
  std::atomic<int> pending_{0};              // workers still running the current fn
  std::atomic<bool> handed_regions_{false};  // a region was handed over since the last release
  bool stop_ = false;
};

// Calls fn(r0, r1) over consecutive ranges covering [0, rows): on the calling thread alone when
// rows * elems_per_row is below kParallelRowsMinElems (waking the pool would cost more than the
// work), else split evenly over the process-wide pool. For row-wise work whose result per row does
// not depend on the split (norms, activations, RoPE).
constexpr int64_t kParallelRowsMinElems = 1 << 16;
void parallel_for_rows(int64_t rows, int64_t elems_per_row, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace pagellm::kernels
