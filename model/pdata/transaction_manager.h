// The transaction manager: copy-on-write access to metadata blocks on top of the block
// manager and the metadata space map, and the two-phase commit (everything flushed,
// then the superblock written last).
#pragma once

#include <utility>

#include "model/pdata/block_index.h"
#include "model/pdata/block_manager.h"
#include "model/pdata/space_map.h"

namespace thinsim::pdata {

struct ShadowResult {
  WriteRef block;
  // The original was shared: every child of the copy must gain a reference.
  bool inc_children = false;
};

class TransactionManager {
 public:
  explicit TransactionManager(BlockManager& bm) : bm_(bm) {}
  TransactionManager(const TransactionManager&) = delete;
  TransactionManager& operator=(const TransactionManager&) = delete;

  // The metadata space map is created on top of this transaction manager, so it is
  // attached afterwards.
  void set_space_map(SpaceMap* sm) { sm_ = sm; }
  SpaceMap& sm() { return *sm_; }
  BlockManager& bm() { return bm_; }

  // Allocates a block; it counts as already shadowed in this transaction.
  WriteRef new_block(const Validator& v);
  // Write access to a copy of orig. Blocks allocated or shadowed in this transaction
  // with a count of one are modified in place.
  ShadowResult shadow_block(block_t orig, const Validator& v);
  ReadRef read_lock(block_t b, const Validator& v) { return bm_.read_lock(b, &v); }

  void inc(block_t b) { sm_->inc(b); }
  void inc_range(block_t b, block_t e) { sm_->inc_blocks(b, e); }
  void dec(block_t b) { sm_->dec(b); }
  void dec_range(block_t b, block_t e) { sm_->dec_blocks(b, e); }
  uint32_t ref(block_t b) { return sm_->get_count(b); }
  bool block_is_shared(block_t b) { return sm_->count_is_more_than_one(b); }

  // Phase one: commit the metadata space map and make every dirty block durable.
  void pre_commit();
  // Phase two: release the (modified) superblock lock and flush again, so the
  // superblock reaches the device after everything it references.
  void commit(WriteRef superblock);
  // Forgets which blocks were shadowed (used when a transaction is abandoned).
  void wipe_shadows() { shadows_.clear(); }
  bool is_shadow(block_t b) const { return shadows_.get(b); }

 private:
  BlockManager& bm_;
  SpaceMap* sm_ = nullptr;
  BlockIndex<bool> shadows_;  // blocks allocated or shadowed in this transaction
};

// Calls fn(begin, end) for each run of consecutive block numbers in a list of
// little-endian u64 values (dm_tm_with_runs).
template <typename Fn>
void for_each_run_le64(const std::byte* values, unsigned count, Fn&& fn);

}  // namespace thinsim::pdata

#include "model/pdata/endian.h"

namespace thinsim::pdata {

template <typename Fn>
void for_each_run_le64(const std::byte* values, unsigned count, Fn&& fn) {
  if (count == 0) return;
  block_t begin = load_le64(values), end = begin + 1;
  for (unsigned i = 1; i < count; ++i) {
    block_t b = load_le64(values + 8 * i);
    if (b == end) {
      ++end;
    } else {
      fn(begin, end);
      begin = b;
      end = b + 1;
    }
  }
  fn(begin, end);
}

}  // namespace thinsim::pdata
