#pragma once
// 64-bit hashing for prefix-cache block keys: a splitmix64 finalizer folded over the values.
// Collisions are guarded against by the callers (the block pool compares full keys on a hit).
#include <cstdint>
#include <span>

namespace pagellm {

inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t hash_combine(uint64_t seed, uint64_t value) { return mix64(seed ^ mix64(value)); }

inline uint64_t hash_ids(uint64_t seed, std::span<const int32_t> ids) {
  uint64_t h = hash_combine(seed, ids.size());
  for (int32_t id : ids) h = hash_combine(h, static_cast<uint32_t>(id));
  return h;
}

}  // namespace pagellm
