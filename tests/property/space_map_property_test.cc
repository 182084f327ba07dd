// Property tests of the space maps against a vector of counts: increments and decrements
// of ranges (counts well above 2 go to the overflow tree), explicit counts, allocation
// (the kernel's policy: free in both the committed and the current state, searching from
// just after the previous allocation and wrapping once), extension and commits.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "model/pdata/error.h"
#include "model/pdata/memory_block_device.h"
#include "model/pdata/space_map_core.h"
#include "model/pdata/space_map_disk.h"
#include "model/pdata/space_map_metadata.h"

using namespace thinsim::pdata;

namespace {

const Validator& test_superblock_validator() {
  static const ChecksumValidator v("test superblock", BlockKind::superblock);
  return v;
}

// ---------------------------------------------------------------------------------------
// Disk and in-core space maps: every block belongs to the test.

struct CountsModel {
  std::vector<uint32_t> cur, committed;
  uint64_t begin = 0;  // allocation hint
  uint64_t committed_size() const { return committed.size(); }

  bool free_in_both(uint64_t b) const {
    return cur[b] == 0 && (b >= committed.size() || committed[b] == 0);
  }
  std::optional<uint64_t> expected_new_block() const {
    for (uint64_t b = begin; b < cur.size(); ++b)
      if (free_in_both(b)) return b;
    for (uint64_t b = 0; b < cur.size(); ++b)
      if (free_in_both(b)) return b;
    return std::nullopt;
  }
  int64_t expected_nr_free() const {
    int64_t committed_used = 0, cur_used = 0;
    for (uint32_t c : committed) committed_used += c != 0;
    for (uint32_t c : cur) cur_used += c != 0;
    return int64_t(committed.size()) - committed_used - (cur_used - committed_used);
  }
};

struct DiskSut {
  MemoryBlockDevice dev{4096 * 8};
  BlockManager bm{dev, 32};
  MetadataTransaction mt = create_metadata_transaction(bm, 0);
  std::unique_ptr<SpaceMapDisk> data;
  explicit DiskSut(uint64_t nr_blocks) : data(SpaceMapDisk::create(*mt.tm, nr_blocks)) {
    commit();
  }
  SpaceMap& sm() { return *data; }
  void commit() {
    data->commit();
    mt.tm->pre_commit();
    mt.tm->commit(bm.write_lock_zero(0, &test_superblock_validator()));
  }
};

struct CoreSut {
  SpaceMapCore core;
  explicit CoreSut(uint64_t nr_blocks) : core(nr_blocks) {}
  SpaceMap& sm() { return core; }
  void commit() { core.commit(); }
};

template <typename Sut>
struct CountCmds {
  using Cmd = rc::state::Command<CountsModel, Sut>;

  static void check_range(Sut& s, const CountsModel& m, uint64_t b, uint64_t e) {
    for (; b < e; ++b) RC_ASSERT(s.sm().get_count(b) == m.cur[b]);
  }

  struct Inc : Cmd {
    uint64_t b, len;
    explicit Inc(const CountsModel& m)
        : b(*rc::gen::inRange<uint64_t>(0, m.cur.size())),
          len(*rc::gen::inRange<uint64_t>(1, 70)) {}
    uint64_t end(const CountsModel& m) const { return std::min<uint64_t>(b + len, m.cur.size()); }
    void checkPreconditions(const CountsModel& m) const override { RC_PRE(b < m.cur.size()); }
    void apply(CountsModel& m) const override {
      for (uint64_t i = b; i < end(m); ++i) m.cur[i]++;
    }
    void run(const CountsModel& m, Sut& s) const override {
      s.sm().inc_blocks(b, end(m));
      CountsModel after = m;
      apply(after);
      check_range(s, after, b, end(m));
    }
    void show(std::ostream& os) const override { os << "Inc(" << b << "+" << len << ")"; }
  };

  // Repeated increments of one block drive it deep into the overflow tree.
  struct IncMany : Cmd {
    uint64_t b;
    uint32_t times;
    explicit IncMany(const CountsModel& m)
        : b(*rc::gen::inRange<uint64_t>(0, m.cur.size())), times(*rc::gen::inRange(1u, 12u)) {}
    void checkPreconditions(const CountsModel& m) const override { RC_PRE(b < m.cur.size()); }
    void apply(CountsModel& m) const override { m.cur[b] += times; }
    void run(const CountsModel& m, Sut& s) const override {
      for (uint32_t i = 0; i < times; ++i) s.sm().inc(b);
      RC_ASSERT(s.sm().get_count(b) == m.cur[b] + times);
      RC_ASSERT(s.sm().count_is_more_than_one(b) == (m.cur[b] + times > 1));
    }
    void show(std::ostream& os) const override { os << "IncMany(" << b << " x" << times << ")"; }
  };

  struct Dec : Cmd {
    uint64_t b = 0, len = 0;
    explicit Dec(const CountsModel& m) {
      std::vector<uint64_t> used;
      for (uint64_t i = 0; i < m.cur.size(); ++i)
        if (m.cur[i]) used.push_back(i);
      if (used.empty()) return;
      b = *rc::gen::elementOf(used);
      len = 1;
      uint64_t want = *rc::gen::inRange<uint64_t>(1, 40);
      while (len < want && b + len < m.cur.size() && m.cur[b + len]) len++;
    }
    void checkPreconditions(const CountsModel& m) const override {
      RC_PRE(len > 0u);
      RC_PRE(b + len <= m.cur.size());
      for (uint64_t i = b; i < b + len; ++i) RC_PRE(m.cur[i] > 0u);
    }
    void apply(CountsModel& m) const override {
      for (uint64_t i = b; i < b + len; ++i) m.cur[i]--;
    }
    void run(const CountsModel& m, Sut& s) const override {
      s.sm().dec_blocks(b, b + len);
      CountsModel after = m;
      apply(after);
      check_range(s, after, b, b + len);
    }
    void show(std::ostream& os) const override { os << "Dec(" << b << "+" << len << ")"; }
  };

  struct SetCount : Cmd {
    uint64_t b;
    uint32_t count;
    explicit SetCount(const CountsModel& m)
        : b(*rc::gen::inRange<uint64_t>(0, m.cur.size())),
          count(*rc::gen::element<uint32_t>(0, 1, 2, 3, 4, 300)) {}
    void checkPreconditions(const CountsModel& m) const override { RC_PRE(b < m.cur.size()); }
    void apply(CountsModel& m) const override { m.cur[b] = count; }
    void run(const CountsModel&, Sut& s) const override {
      s.sm().set_count(b, count);
      RC_ASSERT(s.sm().get_count(b) == count);
    }
    void show(std::ostream& os) const override { os << "SetCount(" << b << ", " << count << ")"; }
  };

  struct NewBlock : Cmd {
    void apply(CountsModel& m) const override {
      auto b = m.expected_new_block();
      if (b) {
        m.cur[*b] = 1;
        m.begin = *b + 1;
      }
    }
    void run(const CountsModel& m, Sut& s) const override {
      auto want = m.expected_new_block();
      if (!want) {
        RC_ASSERT_THROWS_AS(s.sm().new_block(), NoSpaceError);
        return;
      }
      RC_ASSERT(s.sm().new_block() == *want);
      RC_ASSERT(s.sm().get_count(*want) == 1u);
    }
    void show(std::ostream& os) const override { os << "NewBlock"; }
  };

  // Bursts of allocations make the search wrap round and reuse freed blocks.
  struct NewBlocks : Cmd {
    unsigned n = *rc::gen::inRange(1u, 300u);
    void apply(CountsModel& m) const override {
      for (unsigned i = 0; i < n; ++i) NewBlock{}.apply(m);
    }
    void run(const CountsModel& m, Sut& s) const override {
      CountsModel cur = m;
      for (unsigned i = 0; i < n; ++i) {
        NewBlock{}.run(cur, s);
        NewBlock{}.apply(cur);
      }
    }
    void show(std::ostream& os) const override { os << "NewBlocks(" << n << ")"; }
  };

  struct Extend : Cmd {
    uint64_t extra = *rc::gen::inRange<uint64_t>(1, 20000);
    void checkPreconditions(const CountsModel& m) const override {
      RC_PRE(m.cur.size() + extra <= 120000u);
    }
    void apply(CountsModel& m) const override { m.cur.resize(m.cur.size() + extra, 0); }
    void run(const CountsModel&, Sut& s) const override { s.sm().extend(extra); }
    void show(std::ostream& os) const override { os << "Extend(" << extra << ")"; }
  };

  struct Commit : Cmd {
    void apply(CountsModel& m) const override { m.committed = m.cur; }
    void run(const CountsModel& m, Sut& s) const override {
      s.commit();
      check_range(s, m, 0, m.cur.size());
      RC_ASSERT(s.sm().nr_blocks() == m.cur.size());
      CountsModel after = m;
      apply(after);
      RC_ASSERT(int64_t(s.sm().nr_free()) == after.expected_nr_free());
    }
    void show(std::ostream& os) const override { os << "Commit"; }
  };

  struct NrFree : Cmd {
    void run(const CountsModel& m, Sut& s) const override {
      // Only meaningful while no uncommitted extension has been allocated from.
      if (m.cur.size() == m.committed.size())
        RC_ASSERT(int64_t(s.sm().nr_free()) == m.expected_nr_free());
    }
    void show(std::ostream& os) const override { os << "NrFree"; }
  };

  static void run_property() {
    // Bitmaps hold 16320 entries: start with two and a bit so ranges cross bitmaps.
    // Small maps fill up and wrap; large ones span several 16320-entry bitmaps.
    uint64_t nr = *rc::gen::oneOf(rc::gen::inRange<uint64_t>(1, 600),
                                  rc::gen::inRange<uint64_t>(1, 40000));
    CountsModel model;
    model.cur.assign(nr, 0);
    model.committed = model.cur;
    Sut sut(nr);
    rc::state::check(model, sut,
                     rc::state::gen::execOneOfWithArgs<Inc, Inc, IncMany, Dec, Dec, SetCount,
                                                       NewBlock, NewBlocks, Extend, Commit,
                                                       NrFree>());
  }
};

}  // namespace

RC_GTEST_PROP(SpaceMapDiskProperty, MatchesVectorOfCounts, ()) {
  CountCmds<DiskSut>::run_property();
}

RC_GTEST_PROP(SpaceMapCoreProperty, MatchesVectorOfCounts, ()) {
  CountCmds<CoreSut>::run_property();
}

// ---------------------------------------------------------------------------------------
// The metadata space map allocates its own blocks from the map it maintains, so the
// test owns only the blocks it allocated and checks that the map never hands out a
// block that is in use, by the test or by itself.

namespace {

struct MetaModel {
  std::map<uint64_t, uint32_t> cur, committed;  // test-owned blocks
};

struct MetaSut {
  static constexpr uint64_t kDeviceBlocks = 70000;  // room to extend past several bitmaps
  MemoryBlockDevice dev{kDeviceBlocks * 8};
  BlockManager bm{dev, 32};
  TransactionManager tm{bm};
  std::unique_ptr<SpaceMapMetadata> sm;
  explicit MetaSut(uint64_t initial) : sm(SpaceMapMetadata::create(tm, initial, 0)) {}
  void commit() {
    tm.pre_commit();
    tm.commit(bm.write_lock_zero(0, &test_superblock_validator()));
  }
};

using MetaCmd = rc::state::Command<MetaModel, MetaSut>;

uint32_t model_count(const std::map<uint64_t, uint32_t>& m, uint64_t b) {
  auto it = m.find(b);
  return it == m.end() ? 0 : it->second;
}

struct MetaNewBlocks : MetaCmd {
  unsigned n = *rc::gen::inRange(1u, 80u);
  void apply(MetaModel&) const override {}  // blocks are recorded in run()
  void run(const MetaModel& m, MetaSut& s) const override {
    auto& mm = const_cast<MetaModel&>(m);
    for (unsigned i = 0; i < n; ++i) {
      block_t b = s.sm->new_block();
      RC_ASSERT(b != 0u);
      RC_ASSERT(model_count(mm.cur, b) == 0u);
      RC_ASSERT(model_count(mm.committed, b) == 0u);
      RC_ASSERT(s.sm->get_count(b) == 1u);
      mm.cur[b] = 1;
    }
  }
  void show(std::ostream& os) const override { os << "MetaNewBlocks(" << n << ")"; }
};

struct MetaIncDec : MetaCmd {
  uint64_t pick = *rc::gen::arbitrary<uint64_t>();
  int delta = *rc::gen::element(-1, 1, 1, 3);
  void apply(MetaModel&) const override {}
  void run(const MetaModel& m, MetaSut& s) const override {
    auto& mm = const_cast<MetaModel&>(m);
    std::vector<uint64_t> owned;
    for (auto& [b, c] : mm.cur)
      if (c) owned.push_back(b);
    if (owned.empty()) return;
    uint64_t b = owned[pick % owned.size()];
    for (int i = 0; i < std::abs(delta); ++i) {
      if (delta > 0) {
        s.sm->inc(b);
        mm.cur[b]++;
      } else {
        s.sm->dec(b);
        mm.cur[b]--;
      }
    }
    RC_ASSERT(s.sm->get_count(b) == mm.cur[b]);
  }
  void show(std::ostream& os) const override { os << "MetaIncDec(" << delta << ")"; }
};

struct MetaExtend : MetaCmd {
  uint64_t extra = *rc::gen::inRange<uint64_t>(1, 25000);
  void checkPreconditions(const MetaModel&) const override {}
  void apply(MetaModel&) const override {}
  void run(const MetaModel&, MetaSut& s) const override {
    uint64_t before = s.sm->nr_blocks();
    if (before + extra > MetaSut::kDeviceBlocks) return;
    s.sm->extend(extra);
    RC_ASSERT(s.sm->nr_blocks() == before + extra);
  }
  void show(std::ostream& os) const override { os << "MetaExtend(" << extra << ")"; }
};

struct MetaCommit : MetaCmd {
  void apply(MetaModel&) const override {}
  void run(const MetaModel& m, MetaSut& s) const override {
    auto& mm = const_cast<MetaModel&>(m);
    s.commit();
    // A block the test freed is no longer the test's once that is committed: the space
    // map may reuse it, for the test or for itself.
    std::erase_if(mm.cur, [](const auto& e) { return e.second == 0; });
    mm.committed = mm.cur;
    uint64_t nonzero = 0;
    for (uint64_t b = 0; b < s.sm->nr_blocks(); ++b) {
      uint32_t c = s.sm->get_count(b);
      if (c) nonzero++;
      auto it = mm.cur.find(b);
      if (it != mm.cur.end()) RC_ASSERT(c == it->second);
    }
    RC_ASSERT(s.sm->root().nr_allocated == nonzero);
    RC_ASSERT(s.sm->nr_free() == s.sm->nr_blocks() - nonzero);
  }
  void show(std::ostream& os) const override { os << "MetaCommit"; }
};

}  // namespace

RC_GTEST_PROP(SpaceMapMetadataProperty, NeverHandsOutBlocksInUse, ()) {
  uint64_t initial = *rc::gen::inRange<uint64_t>(200, 20000);
  MetaModel model;
  MetaSut sut(initial);
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<MetaNewBlocks, MetaIncDec, MetaIncDec,
                                                     MetaExtend, MetaCommit>());
}
