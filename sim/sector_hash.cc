#include "sim/sector_hash.h"

#include <xxhash.h>

namespace thinsim::sim {

uint64_t sector_hash(uint32_t disk_id, uint64_t sector, std::span<const std::byte> bytes) {
  const uint64_t seed = (uint64_t(disk_id) << 56) ^ (sector * 0x9e3779b97f4a7c15ull);
  const uint64_t h = XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
  return h == 0 ? 1 : h;
}

}  // namespace thinsim::sim
