// Known defects of the peer thin-provisioning-tools 0.9.0 that the differential engine must
// tell apart from faults of thinsim or of the pool generator.
//
// thin_restore 0.9.0 and the lost reference count. The C++ btree's insert (btree.tcc,
// insert_location with split_beneath / split_sibling) splits a full node on the way down
// and then rewrites the parent's key for the left half with the left half's first key.
// When the key being inserted is below every key in the tree, the parent's first key ends
// up above it, so the entry lands in the leaf but a lookup of it fails. The kernel keeps
// the lowered key (btree_insert_raw patches keys[0] after a split beneath, and
// btree_split_sibling only rewrites the parent's value), so kernel-written metadata and
// thinsim's are fine. In thin_restore only the data space map's reference-count tree sees
// keys out of order: a data block enters it when its count reaches 3, in the order the XML
// shares blocks. The restore fails with "ref count not in tree" at the next increment of a
// lost block.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace thinsim::peer {

// The shape of thin_restore 0.9.0's reference-count btree (keys only) while it replays the
// data block increments of a restore, following that btree's insert and lookup exactly for
// trees of up to two levels (a root with at most kMaxEntries leaves).
class ThinRestoreRefCountTree {
 public:
  // (4096 - 32-byte node header) / (8-byte key + 4-byte value), rounded down to a multiple
  // of 3 as calc_max_entries does.
  static constexpr size_t kMaxEntries = 336;

  enum class Outcome { restores, loses_ref_count, beyond_model };

  // One more mapping of `data_block`. Returns false once the outcome is decided (a lost
  // count, or a tree deeper than the model).
  bool increment(uint64_t data_block);

  Outcome outcome() const { return outcome_; }
  // For loses_ref_count: the block whose count thin_restore cannot find and the index
  // (0-based) of the increment that fails; and the increment that lost it.
  uint64_t lost_block() const { return lost_block_; }
  uint64_t failing_increment() const { return failing_increment_; }
  uint64_t losing_increment() const { return losing_increment_; }
  std::string describe() const;

 private:
  bool lookup(uint64_t key) const;
  bool insert(uint64_t key);  // false when beyond the model

  std::unordered_map<uint64_t, uint32_t> counts_;
  // Root as a leaf (leaves_.size() == 1 && root_is_leaf_) or an internal node whose keys
  // are keys_ (possibly stale, as the tools leave them) over leaves_.
  bool root_is_leaf_ = true;
  std::vector<uint64_t> keys_;
  std::vector<std::vector<uint64_t>> leaves_ = {{}};
  std::unordered_map<uint64_t, uint64_t> lost_at_;  // key -> increment that made it unreachable
  Outcome outcome_ = Outcome::restores;
  uint64_t n_ = 0;
  uint64_t lost_block_ = 0, failing_increment_ = 0, losing_increment_ = 0;
};

// Replays the data block mappings of a thin_dump-style XML (single_mapping data_block,
// range_mapping data_begin/length, in document order) into the model. Stops early once the
// outcome is decided. Throws std::runtime_error for an attribute it cannot read.
ThinRestoreRefCountTree replay_thin_restore_ref_counts(std::istream& xml);

}  // namespace thinsim::peer
