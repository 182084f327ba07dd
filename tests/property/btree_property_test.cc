// Property tests of the btree: random operation sequences on two trees that can share
// structure (a clone, as a snapshot makes), compared with std::map, with the structural
// invariants, node and value reference counts and the absence of leaks checked after
// every commit. Nodes are small (30 entries) so trees grow several levels deep.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <array>
#include <map>
#include <memory>
#include <set>

#include "model/pdata/btree.h"
#include "model/pdata/memory_block_device.h"
#include "model/pdata/space_map_metadata.h"

using namespace thinsim::pdata;

namespace {

constexpr uint32_t kValueSize = 120;  // max_entries 30
constexpr uint64_t kKeySpace = 3000;

// Values are unique objects; the btree's inc/dec calls are tallied per object.
class TrackingValueType final : public ValueType {
 public:
  uint32_t size() const override { return kValueSize; }
  void inc(const std::byte* v, unsigned n) override {
    for (unsigned i = 0; i < n; ++i) counts[load_le64(v + i * kValueSize)]++;
  }
  void dec(const std::byte* v, unsigned n) override {
    for (unsigned i = 0; i < n; ++i) {
      int64_t& c = counts[load_le64(v + i * kValueSize)];
      if (c <= 0) throw std::logic_error("value decremented below zero");
      c--;
    }
  }
  bool equal(const std::byte* a, const std::byte* b) const override {
    return load_le64(a) == load_le64(b);
  }
  std::map<uint64_t, int64_t> counts;
};

const Validator& test_superblock_validator() {
  static const ChecksumValidator v("test superblock", BlockKind::superblock);
  return v;
}

struct Model {
  std::array<std::map<uint64_t, uint64_t>, 2> trees;
  bool cloned = false;
  uint64_t next_value = 1;
};

struct Sut {
  MemoryBlockDevice dev{8192 * 8};  // 8192 metadata blocks
  BlockManager bm{dev, 64};         // a small cache exercises write-back and re-reads
  MetadataTransaction mt = create_metadata_transaction(bm, 0);
  TrackingValueType vt;
  BtreeInfo info{*mt.tm, 1, vt};
  std::array<block_t, 2> roots{btree_empty(info), 0};
};

std::array<std::byte, kValueSize> make_value(uint64_t v) {
  std::array<std::byte, kValueSize> out{};
  store_le64(out.data(), v);
  return out;
}

// Walks a tree checking order, key ranges, occupancy and equal leaf depth; collects
// node references and leaf blocks.
struct TreeFacts {
  std::map<block_t, unsigned> node_refs;  // references from parents (and roots)
  std::map<block_t, std::vector<uint64_t>> leaf_values;
  std::map<uint64_t, uint64_t> entries;
};

int walk(Sut& s, block_t b, uint64_t lo, std::optional<uint64_t> hi, bool is_root, TreeFacts& f,
         std::set<block_t>& seen) {
  ReadRef r = s.mt.tm->read_lock(b, btree_node_validator());
  ConstNode n(r.data());
  uint32_t nr = n.nr_entries();
  RC_ASSERT(nr <= n.max_entries());
  if (!is_root) RC_ASSERT(nr >= n.max_entries() / 3);
  for (uint32_t i = 0; i < nr; ++i) {
    RC_ASSERT(n.key(i) >= lo);
    if (hi) RC_ASSERT(n.key(i) < *hi);
    if (i) RC_ASSERT(n.key(i) > n.key(i - 1));
  }
  bool first_visit = seen.insert(b).second;
  if (n.is_leaf()) {
    for (uint32_t i = 0; i < nr; ++i) {
      uint64_t v = load_le64(n.value_ptr(i));
      f.entries[n.key(i)] = v;
      if (first_visit) f.leaf_values[b].push_back(v);
    }
    return 0;
  }
  RC_ASSERT(nr > 0u);
  int height = -1;
  for (uint32_t i = 0; i < nr; ++i) {
    block_t child = n.value64(i);
    if (first_visit) f.node_refs[child]++;
    int h = walk(s, child, n.key(i), i + 1 < nr ? std::optional(n.key(i + 1)) : hi, false, f, seen);
    if (height < 0) height = h;
    RC_ASSERT(h == height);
  }
  return height + 1;
}

// Everything the two trees' structure implies about reference counts must hold.
void check_invariants(Sut& s, const Model& m) {
  TreeFacts facts;
  std::set<block_t> seen;
  for (int t = 0; t < 2; ++t) {
    if (t == 1 && !m.cloned) continue;
    TreeFacts one;
    std::set<block_t> seen_one;
    walk(s, s.roots[t], 0, std::nullopt, true, one, seen_one);
    RC_ASSERT(one.entries == m.trees[t]);
    facts.node_refs[s.roots[t]]++;
    walk(s, s.roots[t], 0, std::nullopt, true, facts, seen);
  }
  for (auto& [b, refs] : facts.node_refs) RC_ASSERT(s.mt.tm->ref(b) == refs);
  // A value's count is the number of distinct leaves holding it.
  std::map<uint64_t, int64_t> want;
  for (auto& [leaf, values] : facts.leaf_values)
    for (uint64_t v : values) want[v]++;
  for (auto& [v, c] : s.vt.counts)
    if (c) RC_ASSERT(want[v] == c);
  for (auto& [v, c] : want) RC_ASSERT(s.vt.counts[v] == c);
}

// After a commit nothing may be allocated but the trees, the superblock and the metadata
// space map's own blocks.
void check_no_leaks(Sut& s) {
  SmRoot root = s.mt.sm->root();
  std::set<block_t> live{0, root.bitmap_root};
  {
    ReadRef idx = s.mt.tm->read_lock(root.bitmap_root, index_validator());
    uint64_t nr_bitmaps = (root.nr_blocks + kEntriesPerBitmap - 1) / kEntriesPerBitmap;
    for (uint64_t i = 0; i < nr_bitmaps; ++i)
      live.insert(IndexEntry::decode(idx.data() + 16 + 16 * i).blocknr);
  }
  std::function<void(block_t)> add_tree = [&](block_t b) {
    if (!live.insert(b).second) return;
    ReadRef r = s.mt.tm->read_lock(b, btree_node_validator());
    ConstNode n(r.data());
    if (n.is_internal())
      for (uint32_t i = 0; i < n.nr_entries(); ++i) add_tree(n.value64(i));
  };
  add_tree(root.ref_count_root);
  add_tree(s.roots[0]);
  if (s.roots[1]) add_tree(s.roots[1]);
  RC_ASSERT(root.nr_allocated == live.size());
}

using Cmd = rc::state::Command<Model, Sut>;

// Checks the state a command leaves against the model it implies.
void check_after(const Cmd& cmd, const Model& before, Sut& s) {
  Model after = before;
  cmd.apply(after);
  check_invariants(s, after);
  check_no_leaks(s);
}

struct InsertRun : Cmd {
  int tree = *rc::gen::inRange(0, 2);
  uint64_t start = *rc::gen::inRange<uint64_t>(0, kKeySpace);
  uint64_t count = *rc::gen::inRange<uint64_t>(1, 200);
  uint64_t stride = *rc::gen::element<uint64_t>(1, 1, 2, 7);
  bool descending = *rc::gen::arbitrary<bool>();

  void checkPreconditions(const Model& m) const override { RC_PRE(tree == 0 || m.cloned); }
  std::vector<uint64_t> keys() const {
    std::vector<uint64_t> k;
    for (uint64_t i = 0; i < count; ++i) k.push_back((start + i * stride) % kKeySpace);
    if (descending) std::reverse(k.begin(), k.end());
    return k;
  }
  void apply(Model& m) const override {
    for (uint64_t k : keys()) m.trees[tree][k] = m.next_value++;
  }
  void run(const Model& m, Sut& s) const override {
    uint64_t v = m.next_value;
    (void)m;
    for (uint64_t k : keys()) {
      auto value = make_value(v);
      s.vt.counts[v]++;  // the inserted value arrives with its reference
      InsertResult r = btree_insert(s.info, s.roots[tree], std::span(&k, 1), value.data());
      s.roots[tree] = r.new_root;
      v++;
    }
    check_after(*this, m, s);
  }
  void show(std::ostream& os) const override {
    os << "InsertRun(tree " << tree << ", start " << start << ", count " << count << ", stride "
       << stride << (descending ? ", descending)" : ")");
  }
};

struct Remove : Cmd {
  int tree;
  uint64_t key = 0;

  explicit Remove(const Model& m) : tree(*rc::gen::inRange(0, m.cloned ? 2 : 1)) {
    const auto& t = m.trees[tree];
    if (t.empty()) return;
    std::vector<uint64_t> keys;
    for (auto& [k, v] : t) keys.push_back(k);
    key = *rc::gen::elementOf(keys);
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(tree == 0 || m.cloned);
    RC_PRE(m.trees[tree].count(key) != 0u);
  }
  void apply(Model& m) const override { m.trees[tree].erase(key); }
  void run(const Model& before, Sut& s) const override {
    s.roots[tree] = btree_remove(s.info, s.roots[tree], std::span(&key, 1));
    check_after(*this, before, s);
  }
  void show(std::ostream& os) const override { os << "Remove(tree " << tree << ", " << key << ")"; }
};

// Removes a random sample of the keys present.
struct RemoveMany : Cmd {
  int tree;
  std::vector<uint64_t> keys;

  explicit RemoveMany(const Model& m) : tree(*rc::gen::inRange(0, m.cloned ? 2 : 1)) {
    const auto& t = m.trees[tree];
    if (t.empty()) return;
    std::vector<uint64_t> present;
    for (auto& [k, v] : t) present.push_back(k);
    size_t n = *rc::gen::inRange<size_t>(1, present.size() + 1);
    // A window of the key space, so removals concentrate and force merges.
    size_t first = *rc::gen::inRange<size_t>(0, present.size());
    for (size_t i = 0; i < n; ++i) keys.push_back(present[(first + i) % present.size()]);
    // Fisher-Yates with a generated seed keeps the order reproducible and shrinkable.
    uint64_t x = *rc::gen::arbitrary<uint64_t>();
    for (size_t i = keys.size(); i > 1; --i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(keys[i - 1], keys[(x >> 33) % i]);
    }
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(tree == 0 || m.cloned);
    RC_PRE(!keys.empty());
    for (uint64_t k : keys) RC_PRE(m.trees[tree].count(k) != 0u);
  }
  void apply(Model& m) const override {
    for (uint64_t k : keys) m.trees[tree].erase(k);
  }
  void run(const Model& before, Sut& s) const override {
    for (uint64_t k : keys) s.roots[tree] = btree_remove(s.info, s.roots[tree], std::span(&k, 1));
    check_after(*this, before, s);
  }
  void show(std::ostream& os) const override {
    os << "RemoveMany(tree " << tree << ", " << keys.size() << " keys from " << keys.front() << ")";
  }
};

struct RemoveRange : Cmd {
  int tree = *rc::gen::inRange(0, 2);
  uint64_t begin = *rc::gen::inRange<uint64_t>(0, kKeySpace);
  uint64_t length = *rc::gen::inRange<uint64_t>(1, 400);

  void checkPreconditions(const Model& m) const override { RC_PRE(tree == 0 || m.cloned); }
  void apply(Model& m) const override {
    auto& t = m.trees[tree];
    t.erase(t.lower_bound(begin), t.lower_bound(begin + length));
  }
  void run(const Model& before, Sut& s) const override {
    // As dm-thin does: remove_leaves stops at holes, so walk the mapped runs.
    uint64_t b = begin, end = begin + length;
    std::array<std::byte, kValueSize> v;
    while (b < end) {
      auto next = btree_lookup_next(s.info, s.roots[tree], std::span(&b, 1), v.data());
      if (!next || *next >= end) break;
      b = *next;
      RemoveLeavesResult r = btree_remove_leaves(s.info, s.roots[tree], std::span(&b, 1), end);
      RC_ASSERT(r.nr_removed > 0u);
      s.roots[tree] = r.new_root;
      b = r.next_key;
    }
    check_after(*this, before, s);
  }
  void show(std::ostream& os) const override {
    os << "RemoveRange(tree " << tree << ", " << begin << "+" << length << ")";
  }
};

struct Clone : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.cloned); }
  void apply(Model& m) const override {
    m.trees[1] = m.trees[0];
    m.cloned = true;
  }
  void run(const Model& before, Sut& s) const override {
    s.mt.tm->inc(s.roots[0]);
    s.roots[1] = s.roots[0];
    check_after(*this, before, s);
  }
  void show(std::ostream& os) const override { os << "Clone"; }
};

struct DropTree : Cmd {
  int tree = *rc::gen::inRange(0, 2);
  void checkPreconditions(const Model& m) const override { RC_PRE(m.cloned); }
  void apply(Model& m) const override {
    if (tree == 0) m.trees[0] = m.trees[1];
    m.trees[1].clear();
    m.cloned = false;
  }
  void run(const Model& before, Sut& s) const override {
    btree_del(s.info, s.roots[tree]);
    if (tree == 0) s.roots[0] = s.roots[1];
    s.roots[1] = 0;
    check_after(*this, before, s);
  }
  void show(std::ostream& os) const override { os << "DropTree(" << tree << ")"; }
};

struct Lookups : Cmd {
  uint64_t probe = *rc::gen::inRange<uint64_t>(0, kKeySpace);
  void run(const Model& m, Sut& s) const override {
    for (int t = 0; t < (m.cloned ? 2 : 1); ++t) {
      std::array<std::byte, kValueSize> v;
      bool found = btree_lookup(s.info, s.roots[t], std::span(&probe, 1), v.data());
      auto it = m.trees[t].find(probe);
      RC_ASSERT(found == (it != m.trees[t].end()));
      if (found) RC_ASSERT(load_le64(v.data()) == it->second);
      auto next = btree_lookup_next(s.info, s.roots[t], std::span(&probe, 1), v.data());
      auto nit = m.trees[t].lower_bound(probe);
      RC_ASSERT(next.has_value() == (nit != m.trees[t].end()));
      if (next) RC_ASSERT(*next == nit->first);
      auto hi = btree_find_highest_key(s.info, s.roots[t]);
      RC_ASSERT(hi.empty() == m.trees[t].empty());
      if (!hi.empty()) RC_ASSERT(hi[0] == m.trees[t].rbegin()->first);
    }
  }
  void show(std::ostream& os) const override { os << "Lookups(" << probe << ")"; }
};

struct Commit : Cmd {
  void run(const Model& m, Sut& s) const override {
    s.mt.tm->pre_commit();
    s.mt.tm->commit(s.bm.write_lock_zero(0, &test_superblock_validator()));
    check_invariants(s, m);
    check_no_leaks(s);
  }
  void show(std::ostream& os) const override { os << "Commit"; }
};

}  // namespace

RC_GTEST_PROP(BtreeProperty, MatchesStdMapWithSharingAndCommits, ()) {
  Model model;
  Sut sut;
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<InsertRun, InsertRun, InsertRun, Remove,
                                                     RemoveMany, RemoveRange, Clone, DropTree,
                                                     Lookups, Commit>());
}
