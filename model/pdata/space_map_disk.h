// The disk space map (used for the data device): a reference-count store whose bitmap
// index is a btree. Allocations must be free in both the committed and the current
// state; the search resumes after the previous allocation and wraps round once.
#pragma once

#include <memory>

#include "model/pdata/space_map_low_level.h"

namespace thinsim::pdata {

class SpaceMapDisk final : public SpaceMap {
 public:
  // A new, committed map of nr_blocks blocks.
  static std::unique_ptr<SpaceMapDisk> create(TransactionManager& tm, block_t nr_blocks);
  static std::unique_ptr<SpaceMapDisk> open(TransactionManager& tm, const SmRoot& root);

  block_t nr_blocks() const override { return committed_.nr_blocks(); }
  block_t nr_free() const override;
  uint32_t get_count(block_t b) override { return ll_.lookup(b); }
  bool count_is_more_than_one(block_t b) override { return ll_.lookup(b) > 1; }
  void set_count(block_t b, uint32_t count) override;
  void inc_blocks(block_t b, block_t e) override;
  void dec_blocks(block_t b, block_t e) override;
  block_t new_block() override;
  void commit() override;
  void extend(block_t extra_blocks) override { ll_.extend(extra_blocks); }
  SmRoot root() const override { return ll_.root(); }

 private:
  SpaceMapDisk(SpaceMapLowLevel ll) : ll_(ll), committed_(ll) {}

  SpaceMapLowLevel ll_;
  SpaceMapLowLevel committed_;
  block_t begin_ = 0;
  int64_t allocated_this_transaction_ = 0;
};

}  // namespace thinsim::pdata
