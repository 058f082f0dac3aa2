#include "util/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace pagellm {

int64_t parse_byte_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string number = text.substr(0, i), suffix = text.substr(i);
  while (!suffix.empty() && suffix.front() == ' ') suffix.erase(0, 1);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  char* end = nullptr;
  const double value = number.empty() ? NAN : std::strtod(number.c_str(), &end);
  double scale = 0;
  if (suffix.empty() || suffix == "B")
    scale = 1;
  else if (suffix == "K" || suffix == "KIB")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "MIB")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GIB")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "TIB")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (suffix == "KB")
    scale = 1e3;
  else if (suffix == "MB")
    scale = 1e6;
  else if (suffix == "GB")
    scale = 1e9;
  else if (suffix == "TB")
    scale = 1e12;
  if (std::isnan(value) || end != number.c_str() + number.size() || scale == 0 || !(value * scale < 9.2e18))
    fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a byte size (examples: 4GiB, 512MiB, 2GB, 1000000)", what, text);
  return static_cast<int64_t>(value * scale);
}

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return fmt::format("{:.2f} {}", v, units[u]);
}

}  // namespace pagellm
