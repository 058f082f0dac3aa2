// ThreadPool: every index runs once per run(), and with pinning each worker's affinity (read back
// from the kernel) is exactly one CPU, distinct, taken from the process's mask in order.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kernels/cpu/thread_pool.h"

namespace pagellm::kernels {
namespace {

std::vector<int> allowed_cpus() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  EXPECT_EQ(::sched_getaffinity(0, sizeof(mask), &mask), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &mask)) cpus.push_back(c);
  return cpus;
}

std::vector<int> this_thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof(set), &set), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Each index's thread affinity, from inside a run() over all threads.
std::vector<std::vector<int>> affinities(ThreadPool& pool) {
  std::vector<std::vector<int>> out(static_cast<size_t>(pool.num_threads()));
  std::atomic<int> calls{0};
  pool.run(pool.num_threads(), [&](int i) {
    out[static_cast<size_t>(i)] = this_thread_cpus();
    calls.fetch_add(1);
  });
  EXPECT_EQ(calls.load(), pool.num_threads());
  return out;
}

TEST(ThreadPool, RunsEveryIndexOnceAcrossManyRuns) {
  ThreadPool pool(3, true);
  for (int n : {1, 2, 3, 5}) {
    for (int round = 0; round < 200; ++round) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.run(n, [&](int i) { hits[static_cast<size_t>(i)].fetch_add(1); });
      for (int i = 0; i < std::min(n, pool.num_threads()); ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1);
      for (int i = pool.num_threads(); i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 0);
    }
  }
}

// Runs handed over both ways: to spinning workers (back to back) and to sleeping ones (a pause longer
// than the spin before each run), with the caller either spinning or asleep while a slow worker
// finishes; more threads than CPUs so workers are descheduled mid-handover. A lost wake-up hangs
// the test (ctest's timeout), a duplicated or skipped index fails it.
TEST(ThreadPool, HandsOverRunsToSpinningAndSleepingWorkers) {
  ThreadPool pool(5);
  for (const bool pause_first : {false, true}) {
    for (const bool slow_worker : {false, true}) {
      for (int round = 0; round < (pause_first || slow_worker ? 20 : 2000); ++round) {
        if (pause_first) std::this_thread::sleep_for(std::chrono::milliseconds(3));
        std::vector<std::atomic<int>> hits(5);
        pool.run(5, [&](int i) {
          if (slow_worker && i == 4) std::this_thread::sleep_for(std::chrono::milliseconds(3));
          hits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (int i = 0; i < 5; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
      }
    }
  }
}

// Regions handed to warm_when_idle are loaded while the threads wait: runs keep coming back to
// back and each index still runs once. The regions (several streams at a stride) end exactly at
// the end of their buffer, so a load past a region is a heap overflow under ASan. After
// release_warm_regions() the buffers are freed while the pool lives on: a worker still warming
// one would be a use after free under ASan (it was, before the release existed).
TEST(ThreadPool, WarmsRegionsWhileWaitingWithoutDisturbingRuns) {
  ThreadPool pool(3);
  constexpr int64_t kStream = 300 << 10, kStride = 320 << 10, kStreams = 4;
  std::vector<std::vector<uint8_t>> buffers;
  for (int i = 0; i < 3; ++i) buffers.emplace_back(static_cast<size_t>(kStride * (kStreams - 1) + kStream), uint8_t{1});
  pool.warm_when_idle(WarmRegion{buffers[0].data(), 0, 1, kStream});  // outside a run: ignored
  for (int round = 0; round < 500; ++round) {
    std::vector<std::atomic<int>> hits(3);
    pool.run(3, [&](int i) {
      const auto& b = buffers[static_cast<size_t>(i)];
      pool.warm_when_idle(round % 2 ? WarmRegion{b.data(), kStride, kStreams, kStream}
                                    : WarmRegion{b.data(), 0, 1, static_cast<int64_t>(b.size())});
      hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int i = 0; i < 3; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
  }
  // The workers may still be warming the last round's regions: a release first, then the buffers
  // can go (freed before it, ASan reported a use after free here).
  pool.release_warm_regions();
  buffers.clear();
  // A last run hands over regions big enough (32 MiB each) that warming them outlasts what follows;
  // after the release their ends are made unreadable: a thread still warming one would crash.
  constexpr size_t kBig = size_t{96} << 20;
  void* big = ::mmap(nullptr, kBig, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(big, MAP_FAILED);
  std::memset(big, 1, kBig);
  pool.run(3, [&](int i) {
    pool.warm_when_idle(WarmRegion{static_cast<const uint8_t*>(big) + (int64_t{i} << 25), 0, 1, int64_t{1} << 25});
  });
  pool.release_warm_regions();
  for (int i = 0; i < 3; ++i)  // the end of each region (quicker to protect than the whole)
    ASSERT_EQ(::mprotect(static_cast<uint8_t*>(big) + (int64_t{i + 1} << 25) - (4 << 20), 4 << 20, PROT_NONE), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // time to warm a freed buffer, were one left
  // A release with nothing handed over since the last one needs no run, and the pool still works.
  pool.release_warm_regions();
  std::atomic<int> after{0};
  pool.run(3, [&](int) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 3);
  ::munmap(big, kBig);
}

TEST(ThreadPool, PinsEachWorkerToItsOwnCpuFromTheMask) {
  const std::vector<int> mask = allowed_cpus();
  const int n = static_cast<int>(mask.size());
  ThreadPool pool(n, true);
  const std::vector<std::vector<int>> got = affinities(pool);
  EXPECT_EQ(got[0], this_thread_cpus()) << "the caller is not pinned";
  EXPECT_EQ(this_thread_cpus(), mask);
  std::set<int> used;
  for (int i = 1; i < n; ++i) {
    EXPECT_EQ(pool.pinned_cpu(i), mask[static_cast<size_t>(i)]);
    EXPECT_EQ(got[static_cast<size_t>(i)], std::vector<int>{mask[static_cast<size_t>(i)]}) << "worker " << i;
    used.insert(got[static_cast<size_t>(i)].front());
  }
  EXPECT_EQ(static_cast<int>(used.size()), n - 1) << "distinct CPUs";
}

TEST(ThreadPool, DoesNotPinWhenOffOrWhenThreadsOutnumberCpus) {
  const std::vector<int> mask = allowed_cpus();
  for (auto [threads, pin] : {std::pair{static_cast<int>(mask.size()) + 1, true}, std::pair{2, false}}) {
    ThreadPool pool(threads, pin);
    for (int i = 1; i < threads; ++i) EXPECT_EQ(pool.pinned_cpu(i), -1);
    for (const std::vector<int>& cpus : affinities(pool)) EXPECT_EQ(cpus, mask) << threads << " threads, pin " << pin;
  }
}

}  // namespace
}  // namespace pagellm::kernels
