// An in-core space map: reference counts in memory, nothing on disk. Used where counts
// are computed rather than persisted (tools, tests). It follows the disk space map's
// rules exactly: a new block must be free now and at the last commit, the search resumes
// after the previous allocation and wraps once, extensions show in nr_blocks() after
// the commit, and nr_free() is the kernel's "committed free minus net allocations".
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/pdata/space_map.h"

namespace thinsim::pdata {

class SpaceMapCore final : public SpaceMap {
 public:
  explicit SpaceMapCore(block_t nr_blocks);

  block_t nr_blocks() const override { return committed_used_.size(); }
  block_t nr_free() const override;
  uint32_t get_count(block_t b) override;
  bool count_is_more_than_one(block_t b) override { return get_count(b) > 1; }
  void set_count(block_t b, uint32_t count) override;
  void inc_blocks(block_t b, block_t e) override;
  void dec_blocks(block_t b, block_t e) override;
  block_t new_block() override;
  void commit() override;
  void extend(block_t extra_blocks) override;
  // An in-core map has no on-disk root.
  SmRoot root() const override;

 private:
  void check(block_t b) const;
  bool allocatable(block_t b) const;
  std::optional<block_t> find_free(block_t begin) const;

  // Counts up to 254 inline; 255 means "see big_".
  std::vector<uint8_t> counts_;
  std::unordered_map<block_t, uint32_t> big_;
  std::vector<bool> committed_used_;
  block_t nr_allocated_ = 0;
  block_t committed_nr_allocated_ = 0;
  block_t begin_ = 0;
};

}  // namespace thinsim::pdata
