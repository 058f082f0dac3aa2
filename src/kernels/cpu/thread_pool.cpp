#include "kernels/cpu/thread_pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_count.h"
#include "util/error.h"

namespace pagellm::kernels {
namespace {

thread_local bool t_in_pool = false;
thread_local int t_index = -1;          // this thread's index in the current parallel run, -1 outside one
constexpr int kSpinIterations = 20000;  // ~50-100 us of pause before sleeping
// Bytes loaded between checks for new work (~30 ns at one core's bandwidth): a new run waits little.
constexpr int64_t kWarmStepBytes = 1024;

std::atomic<int> g_requested_threads{0};  // set_process_threads(), before the pool exists

// --threads, else PAGELLM_NUM_THREADS, else one per CPU this process may use.
int default_threads() {
  if (const int n = g_requested_threads.load()) return n;
  if (const char* v = std::getenv("PAGELLM_NUM_THREADS")) return parse_thread_count(v, "PAGELLM_NUM_THREADS");
  return usable_cpus();
}

// Off unless asked for: on this project's shared 2-core machines a pinned worker cannot leave a
// core another process is busy on, and the whole step waits for it (docs/perf/kernels.md, A/B).
bool pin_from_env() {
  const char* v = std::getenv("PAGELLM_PIN_THREADS");
  return v && std::strcmp(v, "1") == 0;
}

// One distinct allowed CPU per thread, in mask order; empty when there are fewer CPUs than threads
// (pinning two threads to one CPU would serialize them for good).
std::vector<int> cpus_for(int num_threads) {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (::sched_getaffinity(0, sizeof(mask), &mask) != 0) return {};
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE && static_cast<int>(cpus.size()) < num_threads; ++cpu)
    if (CPU_ISSET(cpu, &mask)) cpus.push_back(cpu);
  if (static_cast<int>(cpus.size()) < num_threads) return {};
  return cpus;
}

void pin_current_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);  // best effort: a refusal only costs speed
}

}  // namespace

namespace {
std::atomic<ThreadPool*> g_process_pool{nullptr};  // instance() while it exists
}  // namespace

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool(default_threads(), pin_from_env());
  static const bool registered = (g_process_pool.store(&pool), true);
  (void)registered;
  return pool;
}

void ThreadPool::set_process_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    fail(ErrorCode::kInvalidArgument, "--threads must be from 1 to {}, got {}", kMaxThreads, n);
  if (ThreadPool* pool = g_process_pool.load(); pool && pool->num_threads() != n)
    fail(ErrorCode::kInvalidArgument, "--threads {}: the kernels' thread pool already runs {} threads", n,
         pool->num_threads());
  g_requested_threads.store(n);
}

int ThreadPool::process_threads() {
  if (ThreadPool* pool = g_process_pool.load()) return pool->num_threads();
  return default_threads();
}

void ThreadPool::release_process_warm_regions() {
  if (ThreadPool* pool = g_process_pool.load()) pool->release_warm_regions();
}

void ThreadPool::release_warm_regions() {
  if (!handed_regions_.exchange(false)) return;
  // Each thread clears its own slot inside a run; a worker warms only between runs, so once the
  // run has returned none is still inside an old region.
  run(num_threads(), [this](int i) { idle_warm_[static_cast<size_t>(i)] = IdleWarm{}; });
}

ThreadPool::ThreadPool(int num_threads, bool pin) : idle_warm_(static_cast<size_t>(std::max(1, num_threads))) {
  if (pin && num_threads > 1) cpus_ = cpus_for(num_threads);
  for (int i = 1; i < num_threads; ++i)
    workers_.emplace_back([this, i] {
      if (!cpus_.empty()) pin_current_thread(cpus_[static_cast<size_t>(i)]);
      worker_loop(i);
    });
}

ThreadPool::~ThreadPool() {
  ThreadPool* self = this;
  g_process_pool.compare_exchange_strong(self, nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run(int n, const std::function<void(int)>& fn) {
  if (n > num_threads()) n = num_threads();
  if (n <= 1 || t_in_pool) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    active_ = n;
    pending_.store(n - 1, std::memory_order_relaxed);
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  t_in_pool = true;
  t_index = 0;
  fn(0);
  t_index = -1;
  t_in_pool = false;
  while (pending_.load(std::memory_order_acquire) != 0 && warm_step(0)) {
  }
  for (int spin = 0; spin < kSpinIterations && pending_.load(std::memory_order_acquire) != 0; ++spin) _mm_pause();
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  }
}

void ThreadPool::warm_when_idle(const WarmRegion& region) {
  if (t_index < 0) return;
  if (region.bytes > 0 && !handed_regions_.load(std::memory_order_relaxed)) handed_regions_.store(true);
  idle_warm_[static_cast<size_t>(t_index)] = IdleWarm{region, 0};
}

bool ThreadPool::warm_step(int index) {
  IdleWarm& slot = idle_warm_[static_cast<size_t>(index)];
  const WarmRegion& r = slot.region;
  if (slot.done >= r.bytes) return false;
  // Whole lines a stream (3 streams do not divide the step): every load stays 8-byte aligned.
  const int64_t step = std::max<int64_t>(64, kWarmStepBytes / std::max<int64_t>(1, r.streams) / 64 * 64);
  const int64_t end = std::min(r.bytes, slot.done + step);
  // Loads, not prefetch instructions: with the miss buffers full, the CPU drops most software
  // prefetches (a 256 KiB region prefetched and left 20 us read at 61 GB/s afterwards, loaded
  // at 250, from L2).
  for (int64_t s = 0; s < r.streams; ++s)
    for (int64_t off = slot.done; off < end; off += 64)
      (void)*reinterpret_cast<const volatile uint64_t*>(r.base + s * r.stride + off);  // volatile: each load happens
  slot.done = end;
  return true;
}

void ThreadPool::worker_loop(int index) {
  t_in_pool = true;
  t_index = index;
  uint64_t seen = 0;
  for (;;) {
    // Warm what the next run will read, then spin a little for it (back-to-back kernels), then
    // sleep.
    while (published_.load(std::memory_order_acquire) == seen && warm_step(index)) {
    }
    for (int spin = 0; spin < kSpinIterations && published_.load(std::memory_order_acquire) == seen; ++spin)
      _mm_pause();
    const std::function<void(int)>* fn = nullptr;
    bool take_part = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      fn = fn_;
      take_part = index < active_;
    }
    if (!take_part) continue;
    (*fn)(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);  // pairs with the caller's wait
      done_.notify_one();
    }
  }
}

void parallel_for_rows(int64_t rows, int64_t elems_per_row, const std::function<void(int64_t, int64_t)>& fn) {
  if (rows <= 0) return;
  ThreadPool& pool = ThreadPool::instance();
  const int threads = static_cast<int>(std::min<int64_t>(pool.num_threads(), rows));
  if (threads <= 1 || rows * elems_per_row < kParallelRowsMinElems) {
    fn(0, rows);
    return;
  }
  pool.run(threads, [&](int t) { fn(rows * t / threads, rows * (t + 1) / threads); });
}

}  // namespace pagellm::kernels
