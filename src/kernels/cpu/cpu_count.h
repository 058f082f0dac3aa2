#pragma once
// How many kernel threads this process should run: the CPUs it may use, not the machine's.
// std::thread::hardware_concurrency() counts every CPU of the host, so under `taskset`, a
// container's cpuset or a CPU quota (`docker run --cpus 2`) a pool sized by it would put more
// threads than CPUs into every barrier, and each step would wait on a descheduled thread.
#include <string>
#include <string_view>

namespace pagellm::kernels {

// CPUs in this process's affinity mask, capped by its cgroup's CPU quota (v2: the tightest cpu.max
// from its cgroup up to the root; v1: cpu.cfs_quota_us / cpu.cfs_period_us), rounded up; at least 1.
int usable_cpus();

// The CPUs a cgroup quota allows, from cpu.max's text ("<quota> <period>" or "max <period>"),
// rounded up; 0 when there is no quota or the text is not one.
int cpus_from_cgroup_quota(std::string_view cpu_max);

// This process's cgroup v2 path ("/a/b") from /proc/self/cgroup's text (the "0::/a/b" line); empty
// when there is none (cgroup v1 only).
std::string cgroup_v2_path(std::string_view proc_self_cgroup);

// The tightest quota (CPUs, rounded up) in the cpu.max files of root + path and of each directory
// above it up to root; 0 when none sets one.
int cgroup_v2_quota_cpus(const std::string& root, std::string_view path);

// A thread count given by the user (`--threads`, PAGELLM_NUM_THREADS): a whole number from 1 to
// kMaxThreads, else Error(kInvalidArgument) naming `source` and the text.
constexpr int kMaxThreads = 1024;
int parse_thread_count(std::string_view text, std::string_view source);

}  // namespace pagellm::kernels
