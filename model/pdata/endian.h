// Little-endian loads and stores for on-disk structures. The on-disk format is
// little-endian; memcpy keeps the accesses alignment-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace thinsim::pdata {

static_assert(std::endian::native == std::endian::little,
              "thinsim assumes a little-endian host (the on-disk format is little-endian)");

inline uint32_t load_le32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline uint64_t load_le64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store_le32(void* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
inline void store_le64(void* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }

}  // namespace thinsim::pdata
