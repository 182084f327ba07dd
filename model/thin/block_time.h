// The mapping tree's leaf value: data block in bits 24..63, time in bits 0..23.
#pragma once

#include <cstdint>

namespace thinsim::thin {

struct BlockTime {
  uint64_t block;
  uint32_t time;
  bool operator==(const BlockTime&) const = default;
};

// Like the kernel, the time is OR-ed in unmasked: it is only correct below 2^24.
inline constexpr uint64_t pack_block_time(uint64_t block, uint32_t time) {
  return (block << 24) | time;
}

inline constexpr BlockTime unpack_block_time(uint64_t v) {
  return BlockTime{v >> 24, static_cast<uint32_t>(v & ((1u << 24) - 1))};
}

}  // namespace thinsim::thin
