// Copy-on-write btrees with the kernel's node layout and algorithms (dm-btree.c,
// dm-btree-remove.c): hierarchical keys, preemptive splitting on insert, top-down
// rebalancing on remove, reference counting of shared nodes and of values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "model/pdata/btree_node.h"
#include "model/pdata/transaction_manager.h"

namespace thinsim::pdata {

// How a tree's leaf values are reference counted. The defaults do nothing, like the
// NULL methods of dm_btree_value_type.
class ValueType {
 public:
  virtual ~ValueType() = default;
  virtual uint32_t size() const = 0;
  // Values were duplicated because a shared node was copied (not called for inserts:
  // an inserted value arrives with its reference already taken).
  virtual void inc(const std::byte* values, unsigned count) { (void)values, (void)count; }
  // Values are being deleted or overwritten.
  virtual void dec(const std::byte* values, unsigned count) { (void)values, (void)count; }
  // On overwrite the old value is dec'ed unless equal() says the two are the same.
  virtual bool equal(const std::byte* a, const std::byte* b) const { (void)a, (void)b; return false; }
};

// A value type with no reference counting, e.g. device details or index entries.
class PlainValueType final : public ValueType {
 public:
  explicit PlainValueType(uint32_t size) : size_(size) {}
  uint32_t size() const override { return size_; }

 private:
  uint32_t size_;
};

// Block numbers of metadata blocks (roots of lower trees, internal-node children).
class BlockValueType final : public ValueType {
 public:
  explicit BlockValueType(TransactionManager& tm) : tm_(tm) {}
  uint32_t size() const override { return 8; }
  void inc(const std::byte* values, unsigned count) override;
  void dec(const std::byte* values, unsigned count) override;
  bool equal(const std::byte* a, const std::byte* b) const override;

 private:
  TransactionManager& tm_;
};

struct BtreeInfo {
  TransactionManager& tm;
  unsigned levels;      // nested trees, not the depth of one tree
  ValueType& value_type;  // of the last level
};

// Creates an empty leaf and returns its block.
block_t btree_empty(BtreeInfo& info);

// Deletes a whole (hierarchical) tree: shared nodes are just decremented, unshared ones
// are visited, their values dec'ed and the nodes freed.
void btree_del(BtreeInfo& info, block_t root);

// Exact lookup of a key with one component per level; empty if absent.
// value_out must hold value_type.size() bytes.
bool btree_lookup(BtreeInfo& info, block_t root, std::span<const uint64_t> keys,
                  std::byte* value_out);

// The first entry with key >= keys[last] in the last level (upper levels must match
// exactly). Returns its key, or empty.
std::optional<uint64_t> btree_lookup_next(BtreeInfo& info, block_t root,
                                          std::span<const uint64_t> keys, std::byte* value_out);

struct InsertResult {
  block_t new_root;
  bool inserted;  // false: an existing value was overwritten
};
InsertResult btree_insert(BtreeInfo& info, block_t root, std::span<const uint64_t> keys,
                          const std::byte* value);

// Removes one key; throws PdataError(ENODATA) if it is absent. Returns the new root.
block_t btree_remove(BtreeInfo& info, block_t root, std::span<const uint64_t> keys);

// Removes consecutive present keys starting at keys[last] and below end_key, stopping at
// the first missing key (dm_btree_remove_leaves).
struct RemoveLeavesResult {
  block_t new_root;
  unsigned nr_removed;
  uint64_t next_key;  // one past the last key removed (keys[last] if none was)
};
RemoveLeavesResult btree_remove_leaves(BtreeInfo& info, block_t root,
                                       std::span<const uint64_t> keys, uint64_t end_key);

// Lowest/highest key per level, as far down as the tree has entries; the vector's size
// is the number of levels that had one.
std::vector<uint64_t> btree_find_lowest_key(BtreeInfo& info, block_t root);
std::vector<uint64_t> btree_find_highest_key(BtreeInfo& info, block_t root);

// Visits every leaf entry of a single-level tree in key order.
void btree_walk(BtreeInfo& info, block_t root,
                const std::function<void(uint64_t key, const std::byte* value)>& fn);

// Shadows the path to an existing key of a single-level tree and returns the leaf,
// still write-locked, with the key's index (used by the space maps to update counts).
struct OverwriteLeaf {
  block_t new_root;
  WriteRef leaf;
  unsigned index;
};
OverwriteLeaf btree_get_overwrite_leaf(BtreeInfo& info, block_t root, uint64_t key);

// Adds a reference to every child of a node that was copied from a shared original.
void inc_children(TransactionManager& tm, const std::byte* node, ValueType& vt);

// Deepest tree the walkers accept before declaring a cycle or corruption.
inline constexpr unsigned kMaxBtreeDepth = 64;

}  // namespace thinsim::pdata
