// Internal to the btree implementation: the shadow spine (the at most two nodes, parent
// and child, held while walking down a tree being modified) and entry-moving helpers.
#pragma once

#include <cstring>

#include "model/pdata/btree.h"
#include "model/pdata/error.h"

namespace thinsim::pdata::btree_detail {

// Shadows a node for modification and, if it was shared, takes references on its
// children (bn_shadow / shadow_child).
inline WriteRef shadow_node(TransactionManager& tm, block_t b, ValueType& vt) {
  ShadowResult r = tm.shadow_block(b, btree_node_validator());
  if (r.inc_children) inc_children(tm, r.block.data(), vt);
  return std::move(r.block);
}

class ShadowSpine {
 public:
  explicit ShadowSpine(BtreeInfo& info) : info_(info) {}

  void step(block_t b, ValueType& vt) {
    if (count_ == 2) {
      nodes_[0] = std::move(nodes_[1]);
      count_ = 1;
    }
    if (++depth_ > kMaxBtreeDepth)
      throw CorruptionError(EILSEQ, b, "btree deeper than " + std::to_string(kMaxBtreeDepth) +
                                           " levels (cycle?) at block " + std::to_string(b));
    nodes_[count_] = shadow_node(info_.tm, b, vt);
    if (count_ == 0) root_ = nodes_[0].location();
    count_++;
  }

  BtreeInfo& info() { return info_; }
  WriteRef& current() { return nodes_[count_ - 1]; }
  WriteRef& parent() { return nodes_[0]; }
  bool has_parent() const { return count_ >= 2; }
  block_t root() const { return root_; }
  // The child slot, for the split and rebalance code that swaps which node is current.
  WriteRef& child_slot() { return nodes_[1]; }
  // Hands the current node to the caller without unlocking it.
  WriteRef take_current() {
    WriteRef r = std::move(nodes_[count_ - 1]);
    count_--;
    return r;
  }

 private:
  BtreeInfo& info_;
  WriteRef nodes_[2];
  int count_ = 0;
  unsigned depth_ = 0;
  block_t root_ = 0;
};

inline Node node_of(WriteRef& r) { return Node(r.data()); }

// Copies count entries between non-overlapping regions of (possibly) different nodes.
inline void copy_entries(Node dest, uint32_t dest_off, Node src, uint32_t src_off,
                         uint32_t count) {
  std::memcpy(dest.key_ptr(dest_off), src.key_ptr(src_off), size_t(count) * 8);
  std::memcpy(dest.value_ptr(dest_off), src.value_ptr(src_off), size_t(count) * dest.value_size());
}

// Moves count entries within a node; regions may overlap.
inline void move_entries(Node n, uint32_t dest_off, uint32_t src_off, uint32_t count) {
  std::memmove(n.key_ptr(dest_off), n.key_ptr(src_off), size_t(count) * 8);
  std::memmove(n.value_ptr(dest_off), n.value_ptr(src_off), size_t(count) * n.value_size());
}

// Inserts key/value at index, shifting later entries up.
void insert_at(Node n, uint32_t index, uint64_t key, const std::byte* value);

// Deletes the entry at index, shifting later entries down.
void delete_at(Node n, uint32_t index);

[[noreturn]] void corrupt(block_t b, const std::string& what);

}  // namespace thinsim::pdata::btree_detail
