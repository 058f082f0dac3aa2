#include "util/logging.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "util/error.h"

namespace pagellm {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kWarning};
std::mutex g_mutex;
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

LogLevel parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning" || name == "warn") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  if (name == "off" || name == "critical") return LogLevel::kOff;
  fail(ErrorCode::kInvalidArgument, "unknown log level '{}' (expected debug, info, warning, error or off)", name);
}

void log_line(LogLevel level, std::string_view message) {
  static const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR", "OFF"};
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "%s pagellm: %.*s\n", kNames[static_cast<int>(level)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace pagellm
