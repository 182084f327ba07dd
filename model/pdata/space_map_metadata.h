// The metadata space map: a reference-count store with a fixed one-block index (at most
// 255 bitmaps) that allocates from the metadata device it describes. Updating its own
// bitmaps needs new blocks, so operations requested while one is in progress are queued
// and applied when the outermost one finishes (the kernel's recursion ring buffer).
// Creation and extension run in a bootstrap mode that hands out blocks linearly.
#pragma once

#include <array>
#include <functional>
#include <memory>

#include "model/pdata/space_map_low_level.h"

namespace thinsim::pdata {

class SpaceMapMetadata final : public SpaceMap {
 public:
  // Formats a metadata space map for nr_blocks blocks (capped at the 255-bitmap limit)
  // whose superblock lives at `superblock`, and commits it.
  static std::unique_ptr<SpaceMapMetadata> create(TransactionManager& tm, block_t nr_blocks,
                                                  block_t superblock);
  static std::unique_ptr<SpaceMapMetadata> open(TransactionManager& tm, const SmRoot& root);

  block_t nr_blocks() const override;
  block_t nr_free() const override;
  uint32_t get_count(block_t b) override;
  bool count_is_more_than_one(block_t b) override;
  void set_count(block_t b, uint32_t count) override;
  void inc_blocks(block_t b, block_t e) override;
  void dec_blocks(block_t b, block_t e) override;
  block_t new_block() override;
  void commit() override;
  void extend(block_t extra_blocks) override;
  SmRoot root() const override { return ll_.root(); }
  void register_threshold(block_t threshold, std::function<void()> fn) override;

  // Capacity of the queue of operations deferred while recursing.
  static constexpr unsigned kMaxRecursiveAllocations = 1024;

 private:
  enum class Mode { normal, bootstrap };
  enum class OpType { inc, dec };
  struct BlockOp {
    OpType type;
    block_t b, e;
  };

  explicit SpaceMapMetadata(TransactionManager& tm);
  void add_op(OpType type, block_t b, block_t e);
  void apply_ops();
  int64_t pending_adjustment(block_t b) const;
  block_t new_block_normal();
  void check_threshold(block_t free);

  // RAII marker of one level of space-map operation.
  class Recursion;

  SpaceMapLowLevel ll_;
  SpaceMapLowLevel committed_;
  Mode mode_ = Mode::normal;
  block_t begin_ = 0;
  unsigned recursion_count_ = 0;
  block_t allocated_this_transaction_ = 0;
  // Ring buffer with one slot kept empty to tell full from empty.
  std::array<BlockOp, kMaxRecursiveAllocations + 1> ops_{};
  unsigned ops_begin_ = 0, ops_end_ = 0;

  struct Threshold {
    bool set = false;
    bool value_set = false;
    block_t threshold = 0;
    block_t current = 0;
    std::function<void()> fn;
  } threshold_;
};

// Makes a transaction manager and its metadata space map for a fresh metadata device
// (dm_tm_create_with_sm) or an existing one (dm_tm_open_with_sm).
struct MetadataTransaction {
  std::unique_ptr<TransactionManager> tm;
  std::unique_ptr<SpaceMapMetadata> sm;
};
MetadataTransaction create_metadata_transaction(BlockManager& bm, block_t superblock);
MetadataTransaction open_metadata_transaction(BlockManager& bm, const SmRoot& root);

}  // namespace thinsim::pdata
