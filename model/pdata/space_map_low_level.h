// The reference-count store shared by both space maps (the kernel's ll_disk): bitmaps of
// 2-bit counts, an overflow btree for counts above 2, and an index of the bitmaps. The
// metadata space map keeps its index in one fixed block; the disk (data) space map keeps
// it in a btree with a small write-back cache of entries.
//
// The object is a value: space maps copy it at commit to keep the committed view.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "model/pdata/btree.h"
#include "model/pdata/space_map.h"
#include "model/pdata/space_map_bitmap.h"
#include "model/pdata/transaction_manager.h"

namespace thinsim::pdata {

class SpaceMapLowLevel {
 public:
  enum class Kind { metadata, disk };

  // Fresh stores allocate their (empty) index and overflow tree through tm.
  static SpaceMapLowLevel create_metadata(TransactionManager& tm);
  static SpaceMapLowLevel create_disk(TransactionManager& tm);
  static SpaceMapLowLevel open_metadata(TransactionManager& tm, const SmRoot& root);
  static SpaceMapLowLevel open_disk(TransactionManager& tm, const SmRoot& root);

  Kind kind() const { return kind_; }
  block_t nr_blocks() const { return nr_blocks_; }
  block_t nr_allocated() const { return nr_allocated_; }
  SmRoot root() const { return SmRoot{nr_blocks_, nr_allocated_, bitmap_root_, ref_count_root_}; }

  // Adds bitmaps for extra blocks (allocated through the transaction manager).
  void extend(block_t extra_blocks);
  // The raw 2-bit value (3 means "look in the overflow tree").
  uint32_t lookup_bitmap(block_t b);
  uint32_t lookup(block_t b);
  // First free block in [begin, end), honouring each bitmap's none_free_before hint.
  std::optional<block_t> find_free_block(block_t begin, block_t end);
  // A block free here and in `committed`, searching from begin to the end of this
  // store (the kernel ignores its `end` argument, so this takes none).
  std::optional<block_t> find_common_free_block(SpaceMapLowLevel& committed, block_t begin);

  // Each returns the net number of blocks that became allocated (negative when freed).
  int64_t set_count(block_t b, uint32_t count);
  int64_t inc(block_t b, block_t e);
  int64_t dec(block_t b, block_t e);
  // Writes back index changes (cache entries or the metadata index block).
  void commit();

  IndexEntry load_index_entry(block_t index);

 private:
  struct IeCacheSlot {
    bool valid = false;
    bool dirty = false;
    block_t index = 0;
    IndexEntry ie;
  };
  static constexpr unsigned kIeCacheSize = 64;

  struct IncContext;

  explicit SpaceMapLowLevel(TransactionManager& tm, Kind kind) : tm_(&tm), kind_(kind) {}
  void save_index_entry(block_t index, const IndexEntry& ie);
  block_t max_index_entries() const;
  void ie_cache_writeback(IeCacheSlot& slot);
  std::optional<uint32_t> lookup_overflow(block_t b);
  BtreeInfo ref_count_info();
  BtreeInfo bitmap_info();

  int64_t inc_one_bitmap(block_t b, block_t e, block_t& next);
  int64_t dec_one_bitmap(block_t b, block_t e, block_t& next);
  void inc_overflow(block_t b, IncContext& ic);
  uint32_t dec_overflow(block_t b, IncContext& ic);

  TransactionManager* tm_;
  Kind kind_;
  block_t nr_blocks_ = 0;
  block_t nr_allocated_ = 0;
  block_t bitmap_root_ = 0;  // metadata index block, or index btree root
  block_t ref_count_root_ = 0;
  bool bitmap_index_changed_ = false;
  // kind == metadata: the whole index block as read from disk (4096 bytes).
  std::array<std::byte, kMetadataBlockSize> mi_{};
  // kind == disk: cached index entries.
  std::array<IeCacheSlot, kIeCacheSize> ie_cache_{};
};

// dm_hash_block: the hash used for the transaction manager's tables and the index cache.
inline unsigned dm_hash_block(uint64_t b, unsigned mask) {
  constexpr uint32_t kBigPrime = 4294967291u;
  return (static_cast<uint32_t>(b) * kBigPrime) & mask;
}

}  // namespace thinsim::pdata
