// Removal (dm-btree-remove.c). Walking down, every child about to be entered is first
// rebalanced with its siblings so that it keeps more than max_entries / 3 entries; the
// root alone may shrink below that, and an internal root with one child absorbs it.
#include <algorithm>
#include <cstring>
#include <string>

#include "model/pdata/btree.h"
#include "model/pdata/btree_spine.h"
#include "model/pdata/error.h"

namespace thinsim::pdata {

using namespace btree_detail;

namespace {

[[noreturn]] void bad_shift(const char* what) { throw PdataError(EINVAL, what); }

// Shifts the entries of n by `shift` places: negative drops the first -shift entries,
// positive opens a gap at the front.
void node_shift(Node n, int shift) {
  uint32_t nr = n.nr_entries();
  if (shift < 0) {
    uint32_t s = static_cast<uint32_t>(-shift);
    if (s > nr) bad_shift("btree node shift beyond its entries");
    move_entries(n, 0, s, nr - s);
  } else {
    if (nr + static_cast<uint32_t>(shift) > n.max_entries()) bad_shift("btree node shift overflows");
    move_entries(n, static_cast<uint32_t>(shift), 0, nr);
  }
}

// shift < 0: appends right's first -shift entries to left.
// shift > 0: copies left's last shift entries to the front of right.
void node_copy(Node left, Node right, int shift) {
  uint32_t nr_left = left.nr_entries();
  if (left.value_size() != right.value_size())
    throw CorruptionError(EILSEQ, right.blocknr(), "mismatched value size in sibling btree nodes");
  if (shift < 0) {
    uint32_t s = static_cast<uint32_t>(-shift);
    if (nr_left + s > left.max_entries()) bad_shift("bad shift");
    copy_entries(left, nr_left, right, 0, s);
  } else {
    uint32_t s = static_cast<uint32_t>(shift);
    if (s > right.max_entries()) bad_shift("bad shift");
    copy_entries(right, 0, left, nr_left - s, s);
  }
}

uint32_t merge_threshold(ConstNode n) { return n.max_entries() / 3; }

struct Child {
  uint32_t index;
  WriteRef block;
  Node node() { return node_of(block); }
};

Child init_child(BtreeInfo& info, ValueType& vt, Node parent, uint32_t index) {
  WriteRef r = shadow_node(info.tm, parent.value64(index), vt);
  parent.set_value64(index, r.location());
  return Child{index, std::move(r)};
}

// Moves count entries from left to right (count > 0) or right to left (count < 0).
void shift(Node left, Node right, int count) {
  uint32_t nr_left = left.nr_entries(), nr_right = right.nr_entries();
  uint32_t max = left.max_entries();
  if (max != right.max_entries())
    throw CorruptionError(EILSEQ, right.blocknr(), "node max_entries mismatch");
  if (nr_left - static_cast<uint32_t>(count) > max) bad_shift("node shift out of bounds");
  if (nr_right + static_cast<uint32_t>(count) > max) bad_shift("node shift out of bounds");
  if (!count) return;
  if (count > 0) {
    node_shift(right, count);
    node_copy(left, right, count);
  } else {
    node_copy(left, right, count);
    node_shift(right, count);
  }
  left.set_nr_entries(nr_left - static_cast<uint32_t>(count));
  right.set_nr_entries(nr_right + static_cast<uint32_t>(count));
}

void rebalance2_children(BtreeInfo& info, Node parent, Child& l, Child& r) {
  Node left = l.node(), right = r.node();
  uint32_t nr_left = left.nr_entries(), nr_right = right.nr_entries();
  // Both children must end with at least max_entries/3 + 1 entries, so that either
  // survives the coming removal above the minimum.
  uint32_t threshold = 2 * (merge_threshold(left) + 1);
  if (nr_left + nr_right < threshold) {
    node_copy(left, right, -static_cast<int>(nr_right));
    left.set_nr_entries(nr_left + nr_right);
    delete_at(parent, r.index);
    // The right node goes; its children now belong to left.
    info.tm.dec(r.block.location());
  } else {
    uint32_t target_left = (nr_left + nr_right) / 2;
    shift(left, right, static_cast<int>(nr_left) - static_cast<int>(target_left));
    parent.set_key(r.index, right.key(0));
  }
}

void rebalance2(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint32_t left_index) {
  Node parent = node_of(s.current());
  Child left = init_child(info, vt, parent, left_index);
  Child right = init_child(info, vt, parent, left_index + 1);
  rebalance2_children(info, parent, left, right);
}

// Empties the center node into its neighbours (as much as fits into left, the rest into
// right), drops it, then rebalances the remaining pair.
void delete_center_node(BtreeInfo& info, Node parent, Child& l, Child& c, Child& r) {
  Node left = l.node(), center = c.node(), right = r.node();
  uint32_t nr_left = left.nr_entries(), nr_center = center.nr_entries(),
           nr_right = right.nr_entries();
  uint32_t max = left.max_entries();
  uint32_t n = std::min(max - nr_left, nr_center);
  if (nr_left + n > max) bad_shift("node shift out of bounds");
  node_copy(left, center, -static_cast<int>(n));
  left.set_nr_entries(nr_left + n);
  if (n != nr_center) {
    n = nr_center - n;
    if (nr_right + n > max) bad_shift("node shift out of bounds");
    node_shift(right, static_cast<int>(n));
    node_copy(center, right, static_cast<int>(n));
    right.set_nr_entries(nr_right + n);
  }
  parent.set_key(r.index, right.key(0));
  delete_at(parent, c.index);
  r.index--;
  info.tm.dec(c.block.location());
  rebalance2_children(info, parent, l, r);
}

// Spreads the entries of three siblings evenly; left takes the remainder.
void redistribute3_siblings(Node parent, Child& l, Child& c, Child& r) {
  Node left = l.node(), center = c.node(), right = r.node();
  int nr_left = static_cast<int>(left.nr_entries());
  int nr_center = static_cast<int>(center.nr_entries());
  int nr_right = static_cast<int>(right.nr_entries());
  int max = static_cast<int>(left.max_entries());
  int total = nr_left + nr_center + nr_right;
  int target_right = total / 3;
  int remainder = (target_right * 3) != total;
  int target_left = target_right + remainder;
  if (target_left > max || target_right > max)
    throw CorruptionError(EILSEQ, left.blocknr(), "btree siblings hold more entries than fit");

  if (nr_left < nr_right) {
    int sft = nr_left - target_left;
    if (sft < 0 && nr_center < -sft) {
      // Not enough in the center node.
      shift(left, center, -nr_center);
      sft += nr_center;
      shift(left, right, sft);
      nr_right += sft;
    } else {
      shift(left, center, sft);
    }
    shift(center, right, target_right - nr_right);
  } else {
    int sft = target_right - nr_right;
    if (sft > 0 && nr_center < sft) {
      shift(center, right, nr_center);
      sft -= nr_center;
      shift(left, right, sft);
      nr_left -= sft;
    } else {
      shift(center, right, sft);
    }
    shift(left, center, nr_left - target_left);
  }
  parent.set_key(c.index, center.key(0));
  parent.set_key(r.index, right.key(0));
}

void rebalance3(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint32_t left_index) {
  Node parent = node_of(s.current());
  Child left = init_child(info, vt, parent, left_index);
  Child center = init_child(info, vt, parent, left_index + 1);
  Child right = init_child(info, vt, parent, left_index + 2);

  Node ln = left.node(), cn = center.node(), rn = right.node();
  if (ln.max_entries() != cn.max_entries() || cn.max_entries() != rn.max_entries())
    throw CorruptionError(EILSEQ, cn.blocknr(), "bad btree metadata, max_entries differ");
  uint32_t threshold = merge_threshold(ln) * 4 + 1;
  if (ln.nr_entries() + cn.nr_entries() + rn.nr_entries() < threshold)
    delete_center_node(info, parent, left, center, right);
  else
    redistribute3_siblings(parent, left, center, right);
}

// Ensures the child of the current node that covers key can lose an entry.
// Returns false when no child covers key.
bool rebalance_children(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint64_t key) {
  Node n = node_of(s.current());
  if (n.nr_entries() == 1) {
    // A single child: pull its contents up into this node (the tree gets shorter).
    block_t b = n.value64(0);
    bool shared = info.tm.block_is_shared(b);
    ReadRef child = info.tm.read_lock(b, btree_node_validator());
    if (shared) inc_children(info.tm, child.data(), vt);
    std::memcpy(n.raw(), child.data(), kMetadataBlockSize);
    info.tm.dec(b);
    return true;
  }
  int i = n.lower_bound(key);
  if (i < 0) return false;
  uint32_t ui = static_cast<uint32_t>(i);
  bool has_left = ui > 0;
  bool has_right = ui + 1 < n.nr_entries();
  if (!has_left)
    rebalance2(info, s, vt, ui);
  else if (!has_right)
    rebalance2(info, s, vt, ui - 1);
  else
    rebalance3(info, s, vt, ui - 1);
  return true;
}

enum class Descend { found, missing };

// Walks one level towards key, rebalancing on the way. Leaves the leaf as the
// spine's current node. `exact` demands the key be present (sets index to it);
// otherwise index is the leaf's lower_bound for the key (possibly -1).
Descend remove_raw(BtreeInfo& info, ShadowSpine& s, ValueType& vt, block_t root, uint64_t key,
                   int& index, bool exact) {
  int i = index;
  for (;;) {
    s.step(root, vt);
    if (s.has_parent()) node_of(s.parent()).set_value64(static_cast<uint32_t>(i), s.current().location());

    Node n = node_of(s.current());
    if (!n.is_leaf()) {
      if (!rebalance_children(info, s, vt, key)) return Descend::missing;
      n = node_of(s.current());
    }
    if (n.is_leaf()) {
      int li = n.lower_bound(key);
      if (!exact) {
        index = li;
        return Descend::found;
      }
      if (li < 0 || li >= static_cast<int>(n.nr_entries()) || n.key(static_cast<uint32_t>(li)) != key)
        return Descend::missing;
      index = li;
      return Descend::found;
    }
    i = n.lower_bound(key);
    // rebalance_children succeeded, so some child covers the key.
    root = n.value64(static_cast<uint32_t>(i));
  }
}

}  // namespace

block_t btree_remove(BtreeInfo& info, block_t root, std::span<const uint64_t> keys) {
  BlockValueType le64(info.tm);
  ShadowSpine s(info);
  unsigned last = info.levels - 1;
  int index = 0;
  for (unsigned level = 0; level < info.levels; ++level) {
    ValueType& vt = level == last ? info.value_type : le64;
    if (remove_raw(info, s, vt, root, keys[level], index, true) == Descend::missing)
      throw PdataError(ENODATA, "btree key " + std::to_string(keys[level]) + " not found");
    Node n = node_of(s.current());
    if (level != last) {
      root = n.value64(static_cast<uint32_t>(index));
      continue;
    }
    info.value_type.dec(n.value_ptr(static_cast<uint32_t>(index)), 1);
    delete_at(n, static_cast<uint32_t>(index));
  }
  return s.root();
}

namespace {

// Removes the first key >= keys[last] (and < end_key) if the leaf's lower bound is it.
// Updates keys[last] past it. Returns false when nothing was removed.
bool remove_one(BtreeInfo& info, block_t& root, std::vector<uint64_t>& keys, uint64_t end_key) {
  BlockValueType le64(info.tm);
  ShadowSpine s(info);
  unsigned last = info.levels - 1;
  int index = 0;
  bool removed = false;
  block_t b = root;
  bool ok = true;
  for (unsigned level = 0; level < last; ++level) {
    if (remove_raw(info, s, le64, b, keys[level], index, true) == Descend::missing) {
      ok = false;
      break;
    }
    b = node_of(s.current()).value64(static_cast<uint32_t>(index));
  }
  if (ok && remove_raw(info, s, info.value_type, b, keys[last], index, false) == Descend::found) {
    Node n = node_of(s.current());
    if (index < 0) index = 0;
    if (static_cast<uint32_t>(index) < n.nr_entries()) {
      uint64_t k = n.key(static_cast<uint32_t>(index));
      if (k >= keys[last] && k < end_key) {
        info.value_type.dec(n.value_ptr(static_cast<uint32_t>(index)), 1);
        delete_at(n, static_cast<uint32_t>(index));
        keys[last] = k + 1;
        removed = true;
      }
    }
  }
  // Even a fruitless attempt shadowed the path, so the root may have moved.
  root = s.root();
  return removed;
}

}  // namespace

RemoveLeavesResult btree_remove_leaves(BtreeInfo& info, block_t root,
                                       std::span<const uint64_t> keys, uint64_t end_key) {
  std::vector<uint64_t> k(keys.begin(), keys.end());
  unsigned n = 0;
  while (remove_one(info, root, k, end_key)) n++;
  return RemoveLeavesResult{root, n, k.back()};
}

}  // namespace thinsim::pdata
