// The kernels' thread count: the CPUs the process may use (affinity mask, cgroup quota) and the
// user's count, checked against sched_getaffinity, hand-made cpu.max texts and a cgroup tree.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

TEST(CpuCount, CgroupV2PathFromProcSelfCgroup) {
  EXPECT_EQ(cgroup_v2_path("0::/system.slice/pagellm.service\n"), "/system.slice/pagellm.service");
  EXPECT_EQ(cgroup_v2_path("12:cpu,cpuacct:/docker/abc\n0::/user.slice\n"), "/user.slice");
  EXPECT_EQ(cgroup_v2_path("0::/\n"), "/");
  EXPECT_EQ(cgroup_v2_path("4:cpu:/docker/abc\n3:memory:/docker/abc\n"), "") << "v1 only";
  EXPECT_EQ(cgroup_v2_path(""), "");
}

// A cgroup tree in a temporary directory: the tightest quota on the way up counts, wherever it is.
TEST(CpuCount, TightestQuotaFromTheCgroupUpToTheRoot) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("pagellm_cgroup_" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "a" / "b");
  auto write = [](const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; };
  const std::string r = root.string();
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/a/b"), 0) << "no cpu.max files";
  write(root / "cpu.max", "max 100000\n");
  write(root / "a" / "b" / "cpu.max", "max 100000\n");
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/a/b"), 0) << "no quota anywhere";
  write(root / "a" / "cpu.max", "400000 100000\n");
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/a/b"), 4) << "the parent's quota";
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/a"), 4);
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/"), 0) << "the root has none";
  write(root / "a" / "b" / "cpu.max", "150000 100000\n");
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/a/b"), 2) << "the tighter child";
  write(root / "cpu.max", "100000 100000\n");
  EXPECT_EQ(cgroup_v2_quota_cpus(r, "/a/b"), 1) << "the tighter root";
  std::filesystem::remove_all(root);
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
