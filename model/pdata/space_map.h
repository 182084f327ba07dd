// The space map interface: a reference count per block, allocation of free blocks and a
// transactional commit (dm_space_map).
#pragma once

#include <cstdint>
#include <functional>

#include "model/pdata/geometry.h"

namespace thinsim::pdata {

// disk_sm_root: the 32-byte summary stored in the superblock's 128-byte root areas.
struct SmRoot {
  uint64_t nr_blocks = 0;
  uint64_t nr_allocated = 0;
  uint64_t bitmap_root = 0;
  uint64_t ref_count_root = 0;

  static constexpr size_t kDiskSize = 32;
  void encode(std::byte* out) const;
  static SmRoot decode(const std::byte* in);
  bool operator==(const SmRoot&) const = default;
};

class SpaceMap {
 public:
  virtual ~SpaceMap() = default;

  // Extensions appear in nr_blocks only after commit (disk space map) or at once
  // (metadata space map), as in the kernel.
  virtual block_t nr_blocks() const = 0;
  // Blocks available for allocation now: committed free blocks minus this
  // transaction's allocations.
  virtual block_t nr_free() const = 0;
  virtual uint32_t get_count(block_t b) = 0;
  virtual bool count_is_more_than_one(block_t b) = 0;
  virtual void set_count(block_t b, uint32_t count) = 0;
  // Half-open ranges [b, e).
  virtual void inc_blocks(block_t b, block_t e) = 0;
  virtual void dec_blocks(block_t b, block_t e) = 0;
  // Allocates a block free in both the committed and the current state and gives it
  // a count of 1. Throws NoSpaceError when there is none.
  virtual block_t new_block() = 0;
  virtual void commit() = 0;
  virtual void extend(block_t extra_blocks) = 0;
  virtual SmRoot root() const = 0;
  // Edge-triggered callback when the free count drops to or below threshold.
  virtual void register_threshold(block_t threshold, std::function<void()> fn);

  void inc(block_t b) { inc_blocks(b, b + 1); }
  void dec(block_t b) { dec_blocks(b, b + 1); }
};

}  // namespace thinsim::pdata
