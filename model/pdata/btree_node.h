// The on-disk btree node (one 4 KiB block): a 32-byte header, then max_entries u64 keys,
// then max_entries values of value_size bytes (dm-btree-internal.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "model/pdata/endian.h"
#include "model/pdata/geometry.h"
#include "model/pdata/validator.h"

namespace thinsim::pdata {

inline constexpr uint32_t kInternalNode = 1;
inline constexpr uint32_t kLeafNode = 2;
inline constexpr size_t kNodeHeaderSize = 32;

// Largest multiple of three entries that fits a block (works better than 2n+1 under
// repeated insert/remove, per the kernel).
constexpr uint32_t calc_max_entries(uint32_t value_size) {
  uint32_t total = (kMetadataBlockSize - kNodeHeaderSize) / (8 + value_size);
  return 3 * (total / 3);
}

// A view of a node held in a locked block. Accessors never check bounds: callers
// validated the header through btree_node_validator().
template <typename Byte>
class BasicNode {
 public:
  explicit BasicNode(Byte* data) : p_(data) {}
  // A mutable view converts to a read-only one.
  template <typename Other>
    requires(std::is_const_v<Byte> && !std::is_const_v<Other>)
  BasicNode(const BasicNode<Other>& o) : p_(o.raw()) {}

  uint32_t flags() const { return load_le32(p_ + 4); }
  bool is_internal() const { return flags() & kInternalNode; }
  bool is_leaf() const { return flags() & kLeafNode; }
  uint64_t blocknr() const { return load_le64(p_ + 8); }
  uint32_t nr_entries() const { return load_le32(p_ + 16); }
  uint32_t max_entries() const { return load_le32(p_ + 20); }
  uint32_t value_size() const { return load_le32(p_ + 24); }

  uint64_t key(uint32_t i) const { return load_le64(p_ + kNodeHeaderSize + 8 * size_t(i)); }
  Byte* key_ptr(uint32_t i) const { return p_ + kNodeHeaderSize + 8 * size_t(i); }
  Byte* value_base() const { return p_ + kNodeHeaderSize + 8 * size_t(max_entries()); }
  Byte* value_ptr(uint32_t i) const { return value_base() + size_t(value_size()) * i; }
  uint64_t value64(uint32_t i) const { return load_le64(value_base() + 8 * size_t(i)); }
  Byte* raw() const { return p_; }

  // Index of the largest key <= key, or -1 (dm-btree lower_bound).
  int lower_bound(uint64_t key) const { return search(key, false); }
  // Index of the smallest key >= key, or nr_entries (dm-btree upper_bound).
  int upper_bound(uint64_t key) const { return search(key, true); }

  // Mutators (only meaningful for std::byte).
  void set_flags(uint32_t v) const { store_le32(p_ + 4, v); }
  void set_nr_entries(uint32_t v) const { store_le32(p_ + 16, v); }
  void set_max_entries(uint32_t v) const { store_le32(p_ + 20, v); }
  void set_value_size(uint32_t v) const { store_le32(p_ + 24, v); }
  void set_key(uint32_t i, uint64_t k) const { store_le64(key_ptr(i), k); }
  void set_value64(uint32_t i, uint64_t v) const { store_le64(value_base() + 8 * size_t(i), v); }

 private:
  int search(uint64_t key, bool want_hi) const {
    int lo = -1, hi = static_cast<int>(nr_entries());
    while (hi - lo > 1) {
      int mid = lo + (hi - lo) / 2;
      uint64_t k = this->key(static_cast<uint32_t>(mid));
      if (k == key) return mid;
      if (k < key)
        lo = mid;
      else
        hi = mid;
    }
    return want_hi ? hi : lo;
  }

  Byte* p_;
};

using Node = BasicNode<std::byte>;
using ConstNode = BasicNode<const std::byte>;

// Checks blocknr, checksum, that the arrays fit the block, nr_entries <= max_entries
// and that the node is internal or leaf (the kernel's node_check).
const Validator& btree_node_validator();

}  // namespace thinsim::pdata
