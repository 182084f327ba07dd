// Content hashes of 512-byte sectors, keyed by disk and position, so that the sum over
// a disk's sectors identifies its contents and can be updated one sector at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace thinsim::sim {

inline constexpr uint32_t kSectorBytes = 512;

// Never 0 (0 stands for "never written" in the maps that hold these).
uint64_t sector_hash(uint32_t disk_id, uint64_t sector, std::span<const std::byte> bytes);

}  // namespace thinsim::sim
