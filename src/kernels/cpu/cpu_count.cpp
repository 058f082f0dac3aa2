#include "kernels/cpu/cpu_count.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "util/error.h"

namespace pagellm::kernels {
namespace {

int affinity_cpus() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (::sched_getaffinity(0, sizeof(mask), &mask) == 0) {
    const int n = CPU_COUNT(&mask);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool parse_int64(std::string_view s, int64_t& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

int cpus_from_quota(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(kMaxThreads, (quota + period - 1) / period));
}

// cgroup v2: the tightest quota on the way from this process's cgroup up to the root (a systemd
// service's CPUQuota sits on its own directory, a container's on the namespace root); else v1's
// files at the cpu controller's mount, as a container sees them.
int cgroup_quota_cpus() {
  const std::string path = cgroup_v2_path(read_file("/proc/self/cgroup"));
  if (const int v2 = cgroup_v2_quota_cpus("/sys/fs/cgroup", path); v2 > 0) return v2;
  int64_t quota = 0, period = 0;
  if (parse_int64(trim(read_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")), quota) &&
      parse_int64(trim(read_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us")), period))
    return cpus_from_quota(quota, period);
  return 0;
}

}  // namespace

int cpus_from_cgroup_quota(std::string_view cpu_max) {
  cpu_max = trim(cpu_max);
  const size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos) return 0;
  int64_t quota = 0, period = 0;
  if (!parse_int64(cpu_max.substr(0, space), quota) || !parse_int64(trim(cpu_max.substr(space + 1)), period))
    return 0;  // "max <period>": no quota
  return cpus_from_quota(quota, period);
}

std::string cgroup_v2_path(std::string_view proc_self_cgroup) {
  while (!proc_self_cgroup.empty()) {
    const size_t end = proc_self_cgroup.find('\n');
    std::string_view line = proc_self_cgroup.substr(0, end);
    proc_self_cgroup = end == std::string_view::npos ? std::string_view() : proc_self_cgroup.substr(end + 1);
    if (line.starts_with("0::/")) return std::string(trim(line.substr(3)));
  }
  return {};
}

int cgroup_v2_quota_cpus(const std::string& root, std::string_view path) {
  int tightest = 0;
  for (;;) {
    const std::string dir = root + std::string(path);
    if (const int cpus = cpus_from_cgroup_quota(read_file((dir + "/cpu.max").c_str())); cpus > 0)
      tightest = tightest == 0 ? cpus : std::min(tightest, cpus);
    const size_t slash = path.rfind('/');
    if (path.empty() || slash == std::string_view::npos) break;
    path = path.substr(0, slash);
  }
  return tightest;
}

int usable_cpus() {
  const int cpus = affinity_cpus();
  const int quota = cgroup_quota_cpus();
  return std::max(1, quota > 0 ? std::min(cpus, quota) : cpus);
}

int parse_thread_count(std::string_view text, std::string_view source) {
  int64_t n = 0;
  if (!parse_int64(trim(text), n) || n < 1 || n > kMaxThreads)
    fail(ErrorCode::kInvalidArgument, "{} must be a whole number of threads from 1 to {}, got '{}'", source,
         kMaxThreads, text);
  return static_cast<int>(n);
}

}  // namespace pagellm::kernels
