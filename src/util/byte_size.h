#pragma once
#include <cstdint>
#include <string>

namespace pagellm {

// "4GiB", "512MiB", "2GB", "1.5G", "1000000": bytes. Binary suffixes (KiB/MiB/GiB/TiB and the
// bare K/M/G/T) are powers of 1024, decimal ones (KB/MB/GB/TB) powers of 1000.
// Throws Error(kInvalidArgument) naming `what` on anything else.
int64_t parse_byte_size(const std::string& text, const std::string& what);
std::string format_bytes(int64_t bytes);  // "1.50 GiB"

}  // namespace pagellm
