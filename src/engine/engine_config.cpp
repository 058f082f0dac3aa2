#include "engine/engine_config.h"

#include <algorithm>
#include <fstream>
#include <string>

namespace pagellm {
namespace {

int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return int64_t{8} << 30;
}

}  // namespace

int64_t default_kv_cache_memory() {
  const int64_t forty_percent = available_memory_bytes() / 10 * 4;
  return std::clamp<int64_t>(forty_percent, int64_t{64} << 20, int64_t{4} << 30);
}

bool codes_weights(const EngineConfig& config) {
  switch (config.weight_coding) {
    case WeightCoding::kOn:
      return true;
    case WeightCoding::kOff:
      return false;
    case WeightCoding::kAuto:
      break;
  }
  return config.scheduler.max_num_seqs <= 4;
}

}  // namespace pagellm
