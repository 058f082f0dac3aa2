// The kernels' thread count: the CPUs the process may use (affinity mask,
// cgroup quota) and the user's count, checked against sched_getaffinity and
// hand-made cpu.max texts.
#include <gtest/gtest.h>
#include <sched.h>

#include <string>

#include "kernels/cpu/cpu_count.h"
#include "kernels/cpu/thread_pool.h"
#include "util/error.h"

namespace pagellm::kernels {
namespace {

TEST(CpuCount, QuotaFromCgroupCpuMax) {
  EXPECT_EQ(cpus_from_cgroup_quota("max 100000\n"), 0) << "no quota";
  EXPECT_EQ(cpus_from_cgroup_quota("200000 100000\n"), 2);
  EXPECT_EQ(cpus_from_cgroup_quota("150000 100000"), 2) << "1.5 CPUs round up";
  EXPECT_EQ(cpus_from_cgroup_quota("50000 100000"), 1);
  EXPECT_EQ(cpus_from_cgroup_quota("400000 50000"), 8);
  for (const char* bad : {"", "\n", "garbage", "100000", "-1 100000", "100000 0", "1x 100000", "100000 10y"})
    EXPECT_EQ(cpus_from_cgroup_quota(bad), 0) << "'" << bad << "'";
}

// Restricted to one CPU the way `taskset -c` does it, the process counts one.
TEST(CpuCount, FollowsTheAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(saved), &saved), 0);
  const int allowed = CPU_COUNT(&saved);
  EXPECT_GE(usable_cpus(), 1);
  EXPECT_LE(usable_cpus(), allowed);
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(usable_cpus(), 1);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(saved), &saved), 0);
}

TEST(CpuCount, ParsesAUsersThreadCount) {
  EXPECT_EQ(parse_thread_count("4", "--threads"), 4);
  EXPECT_EQ(parse_thread_count(" 2\n", "PAGELLM_NUM_THREADS"), 2);
  EXPECT_EQ(parse_thread_count("1024", "x"), 1024);
  for (const char* bad : {"", "0", "-1", "abc", "3x", "1025", "2.5", "99999999999999999999"}) {
    try {
      parse_thread_count(bad, "PAGELLM_NUM_THREADS");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      const std::string what = e.what();
      EXPECT_NE(what.find("PAGELLM_NUM_THREADS"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("'") + bad + "'"), std::string::npos) << what;
    }
  }
}

// Once the process-wide pool runs, only its own size may be asked for again.
TEST(CpuCount, PoolSizeIsFixedOnceThePoolRuns) {
  EXPECT_THROW(ThreadPool::set_process_threads(0), Error);
  EXPECT_THROW(ThreadPool::set_process_threads(kMaxThreads + 1), Error);
  const int n = ThreadPool::instance().num_threads();
  EXPECT_EQ(ThreadPool::process_threads(), n);
  EXPECT_NO_THROW(ThreadPool::set_process_threads(n));
  EXPECT_THROW(ThreadPool::set_process_threads(n + 1), Error);
}

}  // namespace
}  // namespace pagellm::kernels
