// Lookup, insert, delete and walks (dm-btree.c). Removal lives in btree_remove.cc.
#include "model/pdata/btree.h"

#include <cstring>
#include <string>

#include "model/bugzoo/bug_switch.h"
#include "model/pdata/btree_spine.h"
#include "model/pdata/error.h"

namespace thinsim::pdata {

using namespace btree_detail;

namespace btree_detail {

void corrupt(block_t b, const std::string& what) { throw CorruptionError(EILSEQ, b, what); }

void insert_at(Node n, uint32_t index, uint64_t key, const std::byte* value) {
  uint32_t nr = n.nr_entries(), max = n.max_entries();
  if (index > nr || index >= max || nr >= max)
    throw PdataError(ENOMEM, "too many entries in btree node for insert");
  if (index < nr) move_entries(n, index + 1, index, nr - index);
  n.set_key(index, key);
  std::memcpy(n.value_ptr(index), value, n.value_size());
  n.set_nr_entries(nr + 1);
}

void delete_at(Node n, uint32_t index) {
  uint32_t nr = n.nr_entries();
  if (index >= nr) corrupt(n.blocknr(), "delete_at: index beyond entries");
  if (index + 1 < nr) move_entries(n, index, index + 1, nr - index - 1);
  n.set_nr_entries(nr - 1);
}

}  // namespace btree_detail

void BlockValueType::inc(const std::byte* values, unsigned count) {
  for_each_run_le64(values, count, [&](block_t b, block_t e) { tm_.inc_range(b, e); });
}

void BlockValueType::dec(const std::byte* values, unsigned count) {
  for_each_run_le64(values, count, [&](block_t b, block_t e) { tm_.dec_range(b, e); });
}

bool BlockValueType::equal(const std::byte* a, const std::byte* b) const {
  return std::memcmp(a, b, 8) == 0;
}

void inc_children(TransactionManager& tm, const std::byte* node, ValueType& vt) {
  ConstNode n(node);
  if (n.is_internal())
    for_each_run_le64(n.value_base(), n.nr_entries(),
                      [&](block_t b, block_t e) { tm.inc_range(b, e); });
  else
    vt.inc(n.value_base(), n.nr_entries());
}

block_t btree_empty(BtreeInfo& info) {
  WriteRef b = info.tm.new_block(btree_node_validator());
  Node n(b.data());
  n.set_flags(kLeafNode);
  n.set_nr_entries(0);
  n.set_max_entries(calc_max_entries(info.value_type.size()));
  n.set_value_size(info.value_type.size());
  return b.location();
}

// ---------------------------------------------------------------------------------------
// Delete

namespace {

struct DelFrame {
  ReadRef block;
  unsigned level;
  uint32_t nr_children;
  uint32_t current_child;
};

}  // namespace

void btree_del(BtreeInfo& info, block_t root) {
  TransactionManager& tm = info.tm;
  std::vector<DelFrame> stack;
  stack.reserve(kMaxBtreeDepth);

  auto push = [&](block_t b, unsigned level) {
    if (stack.size() >= kMaxBtreeDepth)
      throw PdataError(ENOMEM, "btree deletion stack out of memory");
    if (tm.ref(b) > 1) {
      // Shared: drop our reference and leave the children to the other owners.
      tm.dec(b);
      return;
    }
    ReadRef r = tm.read_lock(b, btree_node_validator());
    uint32_t nr = ConstNode(r.data()).nr_entries();
    stack.push_back(DelFrame{std::move(r), level, nr, 0});
  };
  auto pop = [&] {
    block_t b = stack.back().block.location();
    stack.back().block.release();
    stack.pop_back();
    tm.dec(b);
  };

  push(root, 0);
  while (!stack.empty()) {
    DelFrame& f = stack.back();
    if (f.current_child >= f.nr_children) {
      pop();
      continue;
    }
    ConstNode n(f.block.data());
    if (n.is_internal()) {
      block_t child = n.value64(f.current_child++);
      push(child, f.level);
    } else if (f.level < info.levels - 1) {
      if (bugzoo::enabled(bugzoo::BugId::bt07_nested_delete_skips_innermost)) [[unlikely]] {
        // BZ-BT-07 (seed h, 2012): the delete stops one level early; the trees this
        // leaf's values point at are never visited, so they and what they hold leak.
        pop();
        continue;
      }
      block_t child = n.value64(f.current_child++);
      push(child, f.level + 1);
    } else {
      info.value_type.dec(n.value_base(), f.nr_children);
      pop();
    }
  }
}

// ---------------------------------------------------------------------------------------
// Lookup

namespace {

// Descends one tree to the leaf that would hold key (held in `leaf` afterwards) and
// returns the index of the largest key <= key there, or -1.
int lookup_raw(BtreeInfo& info, block_t block, uint64_t key, ReadRef& leaf) {
  for (unsigned depth = 0;; ++depth) {
    if (depth > kMaxBtreeDepth)
      corrupt(block, "btree deeper than " + std::to_string(kMaxBtreeDepth) + " levels (cycle?)");
    leaf = info.tm.read_lock(block, btree_node_validator());
    ConstNode n(leaf.data());
    int i = n.lower_bound(key);
    if (i < 0 || i >= static_cast<int>(n.nr_entries())) return -1;
    if (n.is_leaf()) return i;
    block = n.value64(static_cast<uint32_t>(i));
  }
}

}  // namespace

bool btree_lookup(BtreeInfo& info, block_t root, std::span<const uint64_t> keys,
                  std::byte* value_out) {
  for (unsigned level = 0; level < info.levels; ++level) {
    ReadRef leaf;
    int i = lookup_raw(info, root, keys[level], leaf);
    if (i < 0) return false;
    ConstNode n(leaf.data());
    if (n.key(static_cast<uint32_t>(i)) != keys[level]) return false;
    if (level == info.levels - 1) {
      if (value_out) std::memcpy(value_out, n.value_ptr(static_cast<uint32_t>(i)), info.value_type.size());
    } else {
      root = n.value64(static_cast<uint32_t>(i));
    }
  }
  return true;
}

namespace {

std::optional<uint64_t> lookup_next_single(BtreeInfo& info, block_t root, uint64_t key,
                                           std::byte* value_out, unsigned depth) {
  if (depth > kMaxBtreeDepth)
    corrupt(root, "btree deeper than " + std::to_string(kMaxBtreeDepth) + " levels (cycle?)");
  ReadRef r = info.tm.read_lock(root, btree_node_validator());
  ConstNode n(r.data());
  int nr = static_cast<int>(n.nr_entries());
  if (n.is_internal()) {
    // Keys below every entry still belong to the first child.
    int i = std::max(n.lower_bound(key), 0);
    // BZ-BT-08 reverts "dm btree: fix a bug in dm_btree_lookup_next_single()": without
    // the clamp a key below every entry ends the search with no data.
    if (bugzoo::enabled(bugzoo::BugId::bt08_lookup_next_no_clamp) && n.lower_bound(key) < 0)
      [[unlikely]] return std::nullopt;
    if (i >= nr) return std::nullopt;
    auto found = lookup_next_single(info, n.value64(static_cast<uint32_t>(i)), key, value_out, depth + 1);
    if (!found && i < nr - 1)
      found = lookup_next_single(info, n.value64(static_cast<uint32_t>(i + 1)), key, value_out, depth + 1);
    return found;
  }
  int i = n.upper_bound(key);
  if (i < 0 || i >= nr) return std::nullopt;
  if (value_out) std::memcpy(value_out, n.value_ptr(static_cast<uint32_t>(i)), info.value_type.size());
  return n.key(static_cast<uint32_t>(i));
}

}  // namespace

std::optional<uint64_t> btree_lookup_next(BtreeInfo& info, block_t root,
                                          std::span<const uint64_t> keys, std::byte* value_out) {
  unsigned level = 0;
  for (; level + 1 < info.levels; ++level) {
    ReadRef leaf;
    int i = lookup_raw(info, root, keys[level], leaf);
    if (i < 0) return std::nullopt;
    ConstNode n(leaf.data());
    if (n.key(static_cast<uint32_t>(i)) != keys[level]) return std::nullopt;
    root = n.value64(static_cast<uint32_t>(i));
  }
  return lookup_next_single(info, root, keys[level], value_out, 0);
}

// ---------------------------------------------------------------------------------------
// Insert

namespace {

// Splits entries of two nodes evenly (left gets the smaller half).
void redistribute2(Node left, Node right) {
  uint32_t nr_left = left.nr_entries(), nr_right = right.nr_entries();
  uint32_t total = nr_left + nr_right;
  uint32_t target_left = total / 2, target_right = total - target_left;
  if (nr_left < target_left) {
    uint32_t delta = target_left - nr_left;
    copy_entries(left, nr_left, right, 0, delta);
    move_entries(right, 0, delta, nr_right - delta);
  } else if (nr_left > target_left) {
    uint32_t delta = nr_left - target_left;
    if (nr_right) move_entries(right, delta, 0, nr_right);
    copy_entries(right, 0, left, target_left, delta);
  }
  left.set_nr_entries(target_left);
  right.set_nr_entries(target_right);
}

// Spreads the entries of left and right over left, an empty center and right.
void redistribute3(Node left, Node center, Node right) {
  uint32_t nr_left = left.nr_entries(), nr_right = right.nr_entries();
  uint32_t total = nr_left + nr_right;
  uint32_t target_left = total / 3;
  uint32_t target_center = (total - target_left) / 2;
  uint32_t target_right = total - target_left - target_center;

  if (nr_left < target_left) {
    uint32_t left_short = target_left - nr_left;
    copy_entries(left, nr_left, right, 0, left_short);
    copy_entries(center, 0, right, left_short, target_center);
    move_entries(right, 0, nr_right - target_right, target_right);
  } else if (nr_left < target_left + target_center) {
    uint32_t left_to_center = nr_left - target_left;
    copy_entries(center, 0, left, target_left, left_to_center);
    copy_entries(center, left_to_center, right, 0, target_center - left_to_center);
    move_entries(right, 0, nr_right - target_right, target_right);
  } else {
    uint32_t right_short = target_right - nr_right;
    move_entries(right, right_short, 0, nr_right);
    copy_entries(right, 0, left, nr_left - right_short, right_short);
    copy_entries(center, 0, left, target_left, nr_left - target_left);
  }
  left.set_nr_entries(target_left);
  center.set_nr_entries(target_center);
  right.set_nr_entries(target_right);
}

void init_like(Node dst, ConstNode src) {
  dst.set_flags(src.flags());
  dst.set_nr_entries(0);
  dst.set_max_entries(src.max_entries());
  dst.set_value_size(src.value_size());
}

// Shadows child `index` of parent and points the parent at the shadow.
WriteRef shadow_child(BtreeInfo& info, ValueType& vt, Node parent, uint32_t index) {
  WriteRef r = shadow_node(info.tm, parent.value64(index), vt);
  parent.set_value64(index, r.location());
  return r;
}

// Moves half of the current node into a new right sibling (the parent has room).
void split_one_into_two(BtreeInfo& info, ShadowSpine& s, uint32_t parent_index, uint64_t key) {
  WriteRef& left = s.current();
  WriteRef right = info.tm.new_block(btree_node_validator());
  Node ln = node_of(left), rn = node_of(right);
  init_like(rn, ln);
  redistribute2(ln, rn);

  std::byte location[8];
  store_le64(location, right.location());
  insert_at(node_of(s.parent()), parent_index + 1, rn.key(0), location);

  if (key >= rn.key(0)) s.child_slot() = std::move(right);
}

// Spreads the current node and one sibling over three nodes (better fill).
void split_two_into_three(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint32_t parent_index,
                          uint64_t key) {
  Node pn = node_of(s.parent());
  uint32_t middle_index;
  WriteRef sibling;
  bool current_is_left = parent_index == 0;
  if (current_is_left) {
    middle_index = 1;
    sibling = shadow_child(info, vt, pn, parent_index + 1);
  } else {
    middle_index = parent_index;
    sibling = shadow_child(info, vt, pn, parent_index - 1);
  }
  WriteRef middle = info.tm.new_block(btree_node_validator());

  WriteRef& left = current_is_left ? s.current() : sibling;
  WriteRef& right = current_is_left ? sibling : s.current();
  Node ln = node_of(left), mn = node_of(middle), rn = node_of(right);
  init_like(mn, ln);
  redistribute3(ln, mn, rn);

  pn.set_key(middle_index, rn.key(0));
  std::byte location[8];
  store_le64(location, middle.location());
  insert_at(pn, middle_index, mn.key(0), location);

  // Whichever node now covers the key becomes the spine's current node.
  if (key < mn.key(0)) {
    if (!current_is_left) s.child_slot() = std::move(sibling);
  } else if (key < rn.key(0)) {
    s.child_slot() = std::move(middle);
  } else {
    if (current_is_left) s.child_slot() = std::move(sibling);
  }
}

// The root is full: move its entries into two new children and make it an internal
// node pointing at them. The root keeps its block number.
void split_beneath(ShadowSpine& s) {
  BtreeInfo& info = s.info();
  Node pn = node_of(s.current());
  uint32_t size = pn.value_size();
  uint32_t nr = pn.nr_entries();
  uint32_t nr_left = nr / 2, nr_right = nr - nr_left;

  WriteRef left = info.tm.new_block(btree_node_validator());
  Node ln = node_of(left);
  init_like(ln, pn);
  ln.set_nr_entries(nr_left);
  std::memcpy(ln.key_ptr(0), pn.key_ptr(0), size_t(nr_left) * 8);
  std::memcpy(ln.value_ptr(0), pn.value_ptr(0), size_t(nr_left) * size);

  WriteRef right = info.tm.new_block(btree_node_validator());
  Node rn = node_of(right);
  init_like(rn, pn);
  rn.set_nr_entries(nr_right);
  std::memcpy(rn.key_ptr(0), pn.key_ptr(nr_left), size_t(nr_right) * 8);
  std::memcpy(rn.value_ptr(0), pn.value_ptr(nr_left), size_t(nr_right) * size);

  pn.set_flags(kInternalNode);
  pn.set_nr_entries(2);
  pn.set_max_entries(calc_max_entries(8));
  pn.set_value_size(8);
  pn.set_key(0, ln.key(0));
  pn.set_value64(0, left.location());
  pn.set_key(1, rn.key(0));
  pn.set_value64(1, right.location());
}

// Moves entries of the current node into its left sibling.
void rebalance_left(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint32_t parent_index,
                    uint64_t key) {
  Node parent = node_of(s.parent());
  WriteRef sib = shadow_child(info, vt, parent, parent_index - 1);
  Node left = node_of(sib), right = node_of(s.current());
  redistribute2(left, right);
  parent.set_key(parent_index, right.key(0));
  if (key < right.key(0)) s.child_slot() = std::move(sib);
}

// Moves entries of the current node into its right sibling.
void rebalance_right(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint32_t parent_index,
                     uint64_t key) {
  Node parent = node_of(s.parent());
  WriteRef sib = shadow_child(info, vt, parent, parent_index + 1);
  Node left = node_of(s.current()), right = node_of(sib);
  redistribute2(left, right);
  parent.set_key(parent_index + 1, right.key(0));
  if (key >= right.key(0)) s.child_slot() = std::move(sib);
}

uint32_t node_free_space(BtreeInfo& info, block_t b) {
  ReadRef r = info.tm.read_lock(b, btree_node_validator());
  ConstNode n(r.data());
  return n.max_entries() - n.nr_entries();
}

// A sibling needs at least this many free slots to be worth moving entries into.
constexpr uint32_t kSpaceThreshold = 8;

void rebalance_or_split(BtreeInfo& info, ShadowSpine& s, ValueType& vt, uint32_t parent_index,
                        uint64_t key) {
  Node parent = node_of(s.parent());
  uint32_t nr_parent = parent.nr_entries();
  bool left_shared = false, right_shared = false;

  if (parent_index > 0) {
    block_t left_b = parent.value64(parent_index - 1);
    left_shared = info.tm.block_is_shared(left_b);
    if (!left_shared && node_free_space(info, left_b) >= kSpaceThreshold)
      return rebalance_left(info, s, vt, parent_index, key);
  }
  if (parent_index + 1 < nr_parent) {
    block_t right_b = parent.value64(parent_index + 1);
    right_shared = info.tm.block_is_shared(right_b);
    if (!right_shared && node_free_space(info, right_b) >= kSpaceThreshold)
      return rebalance_right(info, s, vt, parent_index, key);
  }
  // Splitting two into three fills nodes better, but a monotonic insert sequence (at the
  // first or last child) is better served by splitting one into two.
  if (left_shared || right_shared || nr_parent <= 2 || parent_index == 0 ||
      parent_index + 1 == nr_parent)
    split_one_into_two(info, s, parent_index, key);
  else
    split_two_into_three(info, s, vt, parent_index, key);
}

bool has_space_for_insert(ConstNode n, uint64_t key) {
  if (n.nr_entries() != n.max_entries()) return true;
  if (n.is_leaf()) {
    // An overwrite needs no free slot.
    int i = n.lower_bound(key);
    return i >= 0 && n.key(static_cast<uint32_t>(i)) == key;
  }
  return false;
}

// Walks one level of the tree towards key, making room on the way. On return the
// spine's current node is the leaf and the result is the insert/overwrite index.
uint32_t insert_raw(BtreeInfo& info, ShadowSpine& s, block_t root, ValueType& vt, uint64_t key,
                    int index) {
  int i = index;
  bool top = true;
  for (;;) {
    s.step(root, vt);
    if (s.has_parent() && i >= 0) node_of(s.parent()).set_value64(static_cast<uint32_t>(i), s.current().location());

    if (!has_space_for_insert(ConstNode(s.current().data()), key)) {
      if (top)
        split_beneath(s);
      else
        rebalance_or_split(info, s, vt, static_cast<uint32_t>(i), key);
    }

    Node node = node_of(s.current());
    i = node.lower_bound(key);
    if (node.is_leaf()) break;
    if (i < 0) {
      // The key is below every key: lower the first separator to cover it.
      node.set_key(0, key);
      i = 0;
    }
    root = node.value64(static_cast<uint32_t>(i));
    top = false;
  }
  Node leaf = node_of(s.current());
  if (i < 0 || leaf.key(static_cast<uint32_t>(i)) != key) i++;
  return static_cast<uint32_t>(i);
}

bool need_insert(ConstNode n, uint64_t key, uint32_t index) {
  return index >= n.nr_entries() || n.key(index) != key;
}

}  // namespace

InsertResult btree_insert(BtreeInfo& info, block_t root, std::span<const uint64_t> keys,
                          const std::byte* value) {
  BlockValueType le64(info.tm);
  ShadowSpine s(info);
  int index = -1;
  block_t block = root;
  unsigned last = info.levels - 1;

  for (unsigned level = 0; level < last; ++level) {
    uint32_t idx = insert_raw(info, s, block, le64, keys[level], index);
    Node n = node_of(s.current());
    if (need_insert(n, keys[level], idx)) {
      // A missing upper-level key gets an empty lower tree.
      block_t sub = btree_empty(info);
      std::byte v[8];
      store_le64(v, sub);
      insert_at(n, idx, keys[level], v);
    }
    block = n.value64(idx);
    index = static_cast<int>(idx);
  }

  uint32_t idx = insert_raw(info, s, block, info.value_type, keys[last], index);
  Node n = node_of(s.current());
  InsertResult result{s.root(), false};
  if (need_insert(n, keys[last], idx)) {
    insert_at(n, idx, keys[last], value);
    result.inserted = true;
  } else {
    std::byte* old = n.value_ptr(idx);
    if (!info.value_type.equal(old, value)) info.value_type.dec(old, 1);
    std::memcpy(old, value, info.value_type.size());
  }
  return result;
}

OverwriteLeaf btree_get_overwrite_leaf(BtreeInfo& info, block_t root, uint64_t key) {
  ShadowSpine s(info);
  int i = -1;
  for (;;) {
    s.step(root, info.value_type);
    if (s.has_parent() && i >= 0) node_of(s.parent()).set_value64(static_cast<uint32_t>(i), s.current().location());
    Node node = node_of(s.current());
    i = node.lower_bound(key);
    if (i < 0 || i >= static_cast<int>(node.nr_entries()))
      corrupt(node.blocknr(), "overwrite of a key missing from btree node " + std::to_string(node.blocknr()));
    if (node.is_leaf()) {
      if (key != node.key(static_cast<uint32_t>(i)))
        throw PdataError(EINVAL, "overwrite of missing key " + std::to_string(key));
      break;
    }
    root = node.value64(static_cast<uint32_t>(i));
  }
  block_t new_root = s.root();
  return OverwriteLeaf{new_root, s.take_current(), static_cast<uint32_t>(i)};
}

// ---------------------------------------------------------------------------------------
// Key extremes and walks

namespace {

std::vector<uint64_t> find_key(BtreeInfo& info, block_t root, bool highest) {
  std::vector<uint64_t> result;
  for (unsigned level = 0; level < info.levels; ++level) {
    for (unsigned depth = 0;; ++depth) {
      if (depth > kMaxBtreeDepth) corrupt(root, "btree too deep (cycle?)");
      ReadRef r = info.tm.read_lock(root, btree_node_validator());
      ConstNode n(r.data());
      uint32_t nr = n.nr_entries();
      if (nr == 0) return result;
      uint32_t i = highest ? nr - 1 : 0;
      if (n.is_internal()) {
        root = n.value64(i);
        continue;
      }
      result.push_back(n.key(i));
      if (level + 1 < info.levels) root = n.value64(i);
      break;
    }
  }
  return result;
}

void walk_node(BtreeInfo& info, block_t b,
               const std::function<void(uint64_t, const std::byte*)>& fn, unsigned depth) {
  if (depth > kMaxBtreeDepth) corrupt(b, "btree too deep (cycle?)");
  ReadRef r = info.tm.read_lock(b, btree_node_validator());
  ConstNode n(r.data());
  for (uint32_t i = 0; i < n.nr_entries(); ++i) {
    if (n.is_internal())
      walk_node(info, n.value64(i), fn, depth + 1);
    else
      fn(n.key(i), n.value_ptr(i));
  }
}

}  // namespace

std::vector<uint64_t> btree_find_lowest_key(BtreeInfo& info, block_t root) {
  return find_key(info, root, false);
}

std::vector<uint64_t> btree_find_highest_key(BtreeInfo& info, block_t root) {
  return find_key(info, root, true);
}

void btree_walk(BtreeInfo& info, block_t root,
                const std::function<void(uint64_t key, const std::byte* value)>& fn) {
  walk_node(info, root, fn, 0);
}

}  // namespace thinsim::pdata
