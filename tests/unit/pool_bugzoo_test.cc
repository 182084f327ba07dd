// The bug zoo's switches (model/bugzoo): the registry, and for each mutation a test that
// the unmodified model behaves as the fixed kernel does and the switched-on model as the
// historical bug did.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "fault/faulty_disk.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "model/bugzoo/bug_switch.h"
#include "model/bugzoo/fault_point.h"
#include "model/check/metadata_checker.h"
#include "model/pdata/error.h"
#include "model/pdata/memory_block_device.h"
#include "model/thin/pool_metadata.h"
#include "model/thin/superblock.h"

using namespace thinsim;
using namespace thinsim::thin;
using bugzoo::BugId;
using bugzoo::ScopedBug;
using pdata::PdataError;

namespace {

class BugZoo : public ::testing::Test {
 protected:
  void SetUp() override { bugzoo::disable_all(); }
  void TearDown() override {
    bugzoo::disable_all();
    bugzoo::disarm_all_faults();
  }
};

std::unique_ptr<PoolMetadata> open_pool(pdata::BlockDevice& dev, bool format = true) {
  PoolMetadata::Options o;
  o.format_device = format;
  return std::make_unique<PoolMetadata>(dev, o);
}

int err_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PdataError& e) {
    return e.err();
  }
  return 0;
}

Superblock read_sb(pdata::BlockDevice& dev) {
  std::array<std::byte, 4096> block;
  dev.read(0, block);
  return Superblock::decode(block.data());
}

check::CheckResult check_disk(pdata::BlockDevice& dev, bool metadata_snap = false) {
  check::CheckOptions o;
  o.metadata_snap = metadata_snap;
  return check::check_metadata(dev, o);
}

bool clean(pdata::BlockDevice& dev) { return check_disk(dev).passed(false); }

bool findings_mention(const check::CheckResult& r, const std::string& text) {
  return std::any_of(r.findings.list().begin(), r.findings.list().end(),
                     [&](const check::Finding& f) { return f.to_string().find(text) != std::string::npos; });
}

// Every operation a device is asked to do, in order, with whether it succeeded.
class Recorder final : public pdata::BlockDevice {
 public:
  struct Op {
    char kind;  // 'w' write, 'f' flush, 'd' discard
    uint64_t sector;
    bool ok;
  };
  explicit Recorder(pdata::BlockDevice& d) : d_(d) {}
  uint64_t nr_sectors() const override { return d_.nr_sectors(); }
  void read(uint64_t s, std::span<std::byte> b) override { d_.read(s, b); }
  void write(uint64_t s, std::span<const std::byte> b, pdata::WriteFlags f = {}) override {
    record('w', s, [&] { d_.write(s, b, f); });
  }
  void flush() override { record('f', 0, [&] { d_.flush(); }); }
  void discard(uint64_t s, uint64_t n) override { record('d', s, [&] { d_.discard(s, n); }); }

  std::vector<Op> ops;
  size_t superblock_writes() const {
    return std::count_if(ops.begin(), ops.end(), [](const Op& o) { return o.kind == 'w' && o.sector == 0 && o.ok; });
  }

 private:
  template <typename F>
  void record(char kind, uint64_t s, F&& f) {
    try {
      f();
    } catch (...) {
      ops.push_back({kind, s, false});
      throw;
    }
    ops.push_back({kind, s, true});
  }
  pdata::BlockDevice& d_;
};

// A pool with thin 1 holding `n` committed mappings (virtual block i -> a new data block).
void thin_with_mappings(PoolMetadata& pmd, uint64_t n, uint64_t first = 0) {
  pmd.resize_data_dev(10000);
  pmd.create_thin(1);
  ThinDevice& td = pmd.open_thin(1);
  for (uint64_t i = first; i < first + n; ++i) pmd.insert_block(td, i, pmd.alloc_data_block());
  pmd.close_thin(td);
  pmd.commit();
}

void add_mappings(PoolMetadata& pmd, uint64_t first, uint64_t n) {
  ThinDevice& td = pmd.open_thin(1);
  for (uint64_t i = first; i < first + n; ++i) pmd.insert_block(td, i, pmd.alloc_data_block());
  pmd.close_thin(td);
}

harness::RunResult run_text(const std::string& text, harness::ScenarioRunner& runner) {
  return runner.run(harness::parse_scenario(text, "bugzoo.scn"));
}

harness::RunResult run_text(const std::string& text) {
  harness::ScenarioRunner runner;
  return run_text(text, runner);
}

std::string failure_of(const harness::RunResult& r) {
  return r.failure ? harness::to_string(r.failure->where) + ": " + r.failure->command + ": " + r.failure->message
                   : "";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The registry

TEST_F(BugZoo, EverySwitchIsOffByDefault) {
  for (const bugzoo::BugInfo& b : bugzoo::list()) EXPECT_FALSE(bugzoo::enabled(b.id)) << b.name;
  EXPECT_TRUE(bugzoo::enabled_bugs().empty());
  EXPECT_EQ(bugzoo::enabled_names(), "");
}

TEST_F(BugZoo, RegistryEntriesAreComplete) {
  std::set<std::string_view> names;
  ASSERT_EQ(bugzoo::list().size(), bugzoo::kBugCount);
  for (const bugzoo::BugInfo& b : bugzoo::list()) {
    EXPECT_TRUE(names.insert(b.name).second) << b.name;
    EXPECT_EQ(b.name.substr(0, 3), "BZ-");
    EXPECT_FALSE(b.summary.empty()) << b.name;
    EXPECT_FALSE(b.fix.empty()) << b.name;
    EXPECT_FALSE(b.where.empty()) << b.name;
    EXPECT_FALSE(b.detectors.empty()) << b.name;
    EXPECT_GE(b.tier, 1);
    EXPECT_LE(b.tier, 6);
    EXPECT_EQ(bugzoo::find(b.name), std::optional<BugId>(b.id));
    EXPECT_EQ(bugzoo::info(b.id).name, b.name);
  }
  EXPECT_EQ(bugzoo::info(BugId::tm01_superblock_after_failed_flush).name, "BZ-TM-01");
}

TEST_F(BugZoo, UnknownIdIsAClearError) {
  try {
    bugzoo::enable("BZ-XX-99");
    FAIL() << "no exception";
  } catch (const bugzoo::UnknownBug& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("BZ-XX-99"), std::string::npos) << what;
    EXPECT_NE(what.find("BZ-TM-01"), std::string::npos) << what;  // lists the known ones
    EXPECT_NE(what.find("BZ-PM-12"), std::string::npos) << what;
  }
  // A list with one unknown name turns nothing on.
  EXPECT_THROW(bugzoo::enable_list("BZ-PM-12,nope"), bugzoo::UnknownBug);
  EXPECT_FALSE(bugzoo::enabled(BugId::pm12_mapped_blocks_not_decremented));
  EXPECT_THROW(ScopedBug("nope"), bugzoo::UnknownBug);
}

TEST_F(BugZoo, EnableByNameListAndScope) {
  bugzoo::enable("bz-sm-02");  // names are case-insensitive
  EXPECT_TRUE(bugzoo::enabled(BugId::sm02_dec_below_zero_accepted));
  bugzoo::enable_list(" BZ-TM-07 ,, BZ-DS-08");
  EXPECT_EQ(bugzoo::enabled_names(), "BZ-TM-07,BZ-SM-02,BZ-DS-08");
  bugzoo::disable("BZ-SM-02");
  EXPECT_FALSE(bugzoo::enabled(BugId::sm02_dec_below_zero_accepted));
  bugzoo::disable_all();
  {
    ScopedBug on(BugId::pm12_mapped_blocks_not_decremented);
    EXPECT_TRUE(bugzoo::enabled(BugId::pm12_mapped_blocks_not_decremented));
    {
      ScopedBug off("BZ-PM-12", false);
      EXPECT_FALSE(bugzoo::enabled(BugId::pm12_mapped_blocks_not_decremented));
    }
    EXPECT_TRUE(bugzoo::enabled(BugId::pm12_mapped_blocks_not_decremented));
  }
  EXPECT_FALSE(bugzoo::enabled(BugId::pm12_mapped_blocks_not_decremented));
}

TEST_F(BugZoo, FaultPointPassesThenFailsForItsCount) {
  using bugzoo::FaultPoint;
  EXPECT_FALSE(bugzoo::fault_fires(FaultPoint::sm_copy_root));
  {
    bugzoo::ScopedFault f(FaultPoint::sm_copy_root, 1, 2);
    EXPECT_FALSE(bugzoo::fault_fires(FaultPoint::sm_copy_root));
    EXPECT_TRUE(bugzoo::fault_fires(FaultPoint::sm_copy_root));
    EXPECT_TRUE(bugzoo::fault_fires(FaultPoint::sm_copy_root));
    EXPECT_FALSE(bugzoo::fault_fires(FaultPoint::sm_copy_root));
    EXPECT_EQ(bugzoo::times_fired(FaultPoint::sm_copy_root), 2u);
  }
  bugzoo::arm_fault(FaultPoint::sm_copy_root);
  bugzoo::disarm_all_faults();
  EXPECT_FALSE(bugzoo::fault_fires(FaultPoint::sm_copy_root));
}

// ---------------------------------------------------------------------------------------
// BZ-TM-01: the superblock after a failed flush

namespace {

struct Tm01Outcome {
  bool commit_threw = false;
  bool superblock_written_after_failed_flush = false;
  bool disk_clean = false;
};

// A commit whose first flush (or first block write) fails once.
Tm01Outcome commit_with_failure(unsigned failing_ops) {
  fault::FaultyDisk faulty("meta", std::make_unique<pdata::MemoryBlockDevice>(1024 * 8));
  Recorder rec(faulty);
  auto pmd = open_pool(rec);
  thin_with_mappings(*pmd, 50);
  add_mappings(*pmd, 50, 50);
  fault::IoFaultRule rule;
  rule.ops = failing_ops;
  rule.count = 1;
  faulty.set_rule(rule);
  rec.ops.clear();
  Tm01Outcome out;
  try {
    pmd->commit();
  } catch (const pdata::IoError&) {
    out.commit_threw = true;
  }
  auto failed = std::find_if(rec.ops.begin(), rec.ops.end(), [](const Recorder::Op& o) { return !o.ok; });
  out.superblock_written_after_failed_flush =
      failed != rec.ops.end() &&
      std::any_of(failed, rec.ops.end(), [](const Recorder::Op& o) { return o.kind == 'w' && o.sector == 0 && o.ok; });
  out.disk_clean = clean(faulty.inner());
  return out;
}

}  // namespace

TEST_F(BugZoo, Tm01SuperblockIsWrittenAfterAFailedFlush) {
  Tm01Outcome fixed = commit_with_failure(fault::kFlush);
  EXPECT_TRUE(fixed.commit_threw);
  EXPECT_FALSE(fixed.superblock_written_after_failed_flush);
  ScopedBug bug(BugId::tm01_superblock_after_failed_flush);
  Tm01Outcome buggy = commit_with_failure(fault::kFlush);
  EXPECT_FALSE(buggy.commit_threw);  // the next flush succeeded: the commit "worked"
  EXPECT_TRUE(buggy.superblock_written_after_failed_flush);
}

TEST_F(BugZoo, Tm01SuperblockOverALostNodeWriteIsCorruption) {
  Tm01Outcome fixed = commit_with_failure(fault::kWrite);
  EXPECT_TRUE(fixed.commit_threw);
  EXPECT_TRUE(fixed.disk_clean);  // the old superblock still describes the old trees
  ScopedBug bug(BugId::tm01_superblock_after_failed_flush);
  Tm01Outcome buggy = commit_with_failure(fault::kWrite);
  EXPECT_FALSE(buggy.commit_threw);
  EXPECT_TRUE(buggy.superblock_written_after_failed_flush);
  EXPECT_FALSE(buggy.disk_clean);  // it points at a block whose write never happened
}

// ---------------------------------------------------------------------------------------
// BZ-TM-02: roots copied into the locked superblock

namespace {

// A commit whose space-map root copy fails, then the abort the pool does after it.
std::pair<bool, bool> failed_root_copy_then_abort() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 50);
  add_mappings(*pmd, 50, 50);
  const Superblock before = read_sb(dev);
  {
    bugzoo::ScopedFault f(bugzoo::FaultPoint::sm_copy_root);
    EXPECT_EQ(err_of([&] { pmd->commit(); }), ENOSPC);
    EXPECT_EQ(bugzoo::times_fired(bugzoo::FaultPoint::sm_copy_root), 1u);
  }
  pmd->abort();  // tearing the cache down writes what is dirty
  const bool superblock_unchanged = read_sb(dev).csum == before.csum;
  return {superblock_unchanged, clean(dev)};
}

}  // namespace

TEST_F(BugZoo, Tm02FailedRootCopyLeavesAHalfWrittenSuperblock) {
  auto [fixed_unchanged, fixed_clean] = failed_root_copy_then_abort();
  EXPECT_TRUE(fixed_unchanged);
  EXPECT_TRUE(fixed_clean);
  ScopedBug bug(BugId::tm02_sm_roots_copied_after_superblock_lock);
  auto [buggy_unchanged, buggy_clean] = failed_root_copy_then_abort();
  EXPECT_FALSE(buggy_unchanged);  // new tree roots reached the disk with the old space maps
  EXPECT_FALSE(buggy_clean);
}

// ---------------------------------------------------------------------------------------
// BZ-TM-05: metadata snapshot without a commit

namespace {

std::pair<bool, bool> snapshot_with_uncommitted_changes() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 100);
  add_mappings(*pmd, 100, 20);  // shadows the committed trees
  pmd->reserve_metadata_snap();
  pmd->commit();
  add_mappings(*pmd, 200, 20);
  pmd->commit();
  return {clean(dev), check_disk(dev, true).passed(false)};
}

}  // namespace

TEST_F(BugZoo, Tm05SnapshotWithoutCommitPinsFreedBlocks) {
  auto [fixed_clean, fixed_snap_clean] = snapshot_with_uncommitted_changes();
  EXPECT_TRUE(fixed_clean);
  EXPECT_TRUE(fixed_snap_clean);
  ScopedBug bug(BugId::tm05_metadata_snap_without_commit);
  auto [buggy_clean, buggy_snap_clean] = snapshot_with_uncommitted_changes();
  (void)buggy_snap_clean;  // the copy's own trees may still read back
  EXPECT_FALSE(buggy_clean);  // blocks reachable from the held root are counted free
}

TEST_F(BugZoo, Tm05PoolMessageNoLongerCommitsFirst) {
  // The uncommitted write's mapping is not in the snapshot: held_root's tree is the one
  // from before it. With the fix, the pool commits first and the snapshot is current.
  const std::string text = R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 131072 thin pool 0"
write thin 0 1M seed:1
flush thin
write thin 1M 1M seed:2
message pool 0 "reserve_metadata_snap"
write thin 2M 1M seed:3
flush thin
remove thin
remove pool
check meta
)";
  harness::ScenarioRunner fixed_runner;
  auto fixed = run_text(text, fixed_runner);
  EXPECT_TRUE(fixed.passed()) << failure_of(fixed);
  ScopedBug bug(BugId::tm05_metadata_snap_without_commit);
  auto buggy = run_text(text);
  EXPECT_FALSE(buggy.passed());
  EXPECT_NE(failure_of(buggy).find("check meta"), std::string::npos) << failure_of(buggy);
}

// ---------------------------------------------------------------------------------------
// BZ-TM-06: releasing a metadata snapshot only decrements its roots

namespace {

std::pair<check::CheckResult, block_t> reserve_change_release() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 300);
  pmd->reserve_metadata_snap();
  pmd->commit();
  add_mappings(*pmd, 1000, 300);  // the live trees move away from the snapshot's
  pmd->commit();
  pmd->release_metadata_snap();
  pmd->commit();
  block_t free = pmd->free_metadata_blocks();
  return {check_disk(dev), free};
}

}  // namespace

TEST_F(BugZoo, Tm06ReleaseOnlyDecrementsAndLeaksTheSnapshotTrees) {
  auto [fixed, fixed_free] = reserve_change_release();
  EXPECT_TRUE(fixed.passed(false));
  ScopedBug bug(BugId::tm06_release_snap_only_decrements);
  auto [buggy, buggy_free] = reserve_change_release();
  EXPECT_FALSE(buggy.passed(false));
  EXPECT_TRUE(findings_mention(buggy, "leak")) << buggy.findings.list().front().to_string();
  EXPECT_LT(buggy_free, fixed_free);
}

// ---------------------------------------------------------------------------------------
// BZ-TM-07: commit when not in service

namespace {

size_t superblock_writes_of_idle_open_close() {
  pdata::MemoryBlockDevice mem(1024 * 8);
  open_pool(mem)->close();
  Recorder rec(mem);
  auto pmd = open_pool(rec, false);
  pmd->commit();
  pmd->close();
  return rec.superblock_writes();
}

// The metadata disk's writes during an idle second activation of a pool.
class MetaWrites final : public harness::DiskTap, public harness::StepObserver {
 public:
  void written(const std::string& disk, uint64_t, uint64_t, bool) override {
    if (disk == "meta" && counting) ++writes;
  }
  void flushed(const std::string&) override {}
  std::optional<std::string> after_step(const harness::Command&, const harness::StepOutcome&,
                                        harness::DmCore&) override {
    if (++step == 4) counting = true;  // after the first activation and removal
    return std::nullopt;
  }
  int step = 0;
  bool counting = false;
  uint64_t writes = 0;
};

uint64_t meta_writes_of_idle_activation() {
  harness::ScenarioRunner runner;
  MetaWrites w;
  runner.dm().add_disk_tap(w);
  runner.add_observer(w);
  auto r = run_text(R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
remove pool
create pool "0 131072 thin-pool meta data 128 0"
status pool
remove pool
)", runner);
  EXPECT_TRUE(r.passed()) << failure_of(r);
  runner.dm().remove_disk_tap(w);
  return w.writes;
}

}  // namespace

TEST_F(BugZoo, Tm07IdleOpenCloseWritesTheSuperblock) {
  EXPECT_EQ(superblock_writes_of_idle_open_close(), 0u);
  EXPECT_EQ(meta_writes_of_idle_activation(), 0u);
  ScopedBug bug(BugId::tm07_commit_when_not_in_service);
  EXPECT_GE(superblock_writes_of_idle_open_close(), 1u);
  EXPECT_GE(meta_writes_of_idle_activation(), 1u);
}

// ---------------------------------------------------------------------------------------
// BZ-SM-02: decrementing a zero count

TEST_F(BugZoo, Sm02DecrementOfZeroIsAccepted) {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  pmd->resize_data_dev(100);
  const block_t free = pmd->free_data_blocks();
  EXPECT_EQ(err_of([&] { pmd->dec_data_range(7, 8); }), EINVAL);
  ScopedBug bug(BugId::sm02_dec_below_zero_accepted);
  EXPECT_EQ(err_of([&] { pmd->dec_data_range(7, 8); }), 0);
  EXPECT_EQ(pmd->free_data_blocks(), free);  // clamped at zero, no error
}

// ---------------------------------------------------------------------------------------
// BZ-SM-03: the allocator searches only the committed map

namespace {

// Ten data blocks; three used, freed and committed; then eleven allocations in one
// transaction. Returns the blocks handed out (and whether the last one was refused).
std::pair<std::vector<block_t>, bool> allocate_past_full() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  pmd->resize_data_dev(10);
  pmd->create_thin(1);
  pmd->commit();  // as the pool does after a resize: the committed map has the blocks too
  ThinDevice& td = pmd->open_thin(1);
  for (block_t i = 0; i < 3; ++i) pmd->insert_block(td, i, pmd->alloc_data_block());
  pmd->commit();
  pmd->remove_range(td, 0, 3);
  pmd->commit();
  std::vector<block_t> got;
  bool refused = false;
  for (int i = 0; i < 11; ++i) {
    try {
      got.push_back(pmd->alloc_data_block());
    } catch (const pdata::NoSpaceError&) {
      refused = true;
    }
  }
  pmd->close_thin(td);
  return {got, refused};
}

}  // namespace

TEST_F(BugZoo, Sm03AllocatorHandsOutABlockAlreadyInUse) {
  auto [fixed, fixed_refused] = allocate_past_full();
  EXPECT_EQ(fixed.size(), 10u);
  EXPECT_TRUE(fixed_refused);
  EXPECT_EQ(std::set<block_t>(fixed.begin(), fixed.end()).size(), fixed.size());
  ScopedBug bug(BugId::sm03_allocator_checks_old_map_only);
  auto [buggy, buggy_refused] = allocate_past_full();
  EXPECT_FALSE(buggy_refused);
  EXPECT_EQ(buggy.size(), 11u);
  EXPECT_LT(std::set<block_t>(buggy.begin(), buggy.end()).size(), buggy.size());  // a duplicate
}

// ---------------------------------------------------------------------------------------
// BZ-DS-08: no data flush before the metadata commit

namespace {

class OrderTap final : public harness::DiskTap {
 public:
  void written(const std::string& disk, uint64_t sector, uint64_t, bool) override {
    events.push_back(disk == "data" ? "data-write" : sector == 0 ? "superblock-write" : "meta-write");
  }
  void flushed(const std::string& disk) override { events.push_back(disk + "-flush"); }
  std::vector<std::string> events;
};

// Is the data device flushed between the first data write and the next superblock write?
bool data_flushed_before_superblock() {
  harness::ScenarioRunner runner;
  OrderTap tap;
  runner.dm().add_disk_tap(tap);
  auto r = run_text(R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 131072 thin pool 0"
write thin 0 64K seed:1
flush thin
)", runner);
  runner.dm().remove_disk_tap(tap);
  EXPECT_TRUE(r.passed()) << failure_of(r);
  auto first_data = std::find(tap.events.begin(), tap.events.end(), "data-write");
  EXPECT_NE(first_data, tap.events.end());
  auto sb = std::find(first_data, tap.events.end(), "superblock-write");
  EXPECT_NE(sb, tap.events.end());
  return std::find(first_data, sb, "data-flush") != sb;
}

}  // namespace

TEST_F(BugZoo, Ds08NoDataFlushReachesTheDiskBeforeTheSuperblock) {
  EXPECT_TRUE(data_flushed_before_superblock());
  ScopedBug bug(BugId::ds08_no_data_flush_before_commit);
  EXPECT_FALSE(data_flushed_before_superblock());
}

// ---------------------------------------------------------------------------------------
// BZ-PM-12: mapped_blocks not decremented

namespace {

std::pair<uint64_t, check::CheckResult> map_then_remove() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 40);
  ThinDevice& td = pmd->open_thin(1);
  pmd->remove_range(td, 0, 30);
  uint64_t mapped = pmd->mapped_count(td);
  pmd->close_thin(td);
  pmd->commit();
  return {mapped, check_disk(dev)};
}

}  // namespace

TEST_F(BugZoo, Pm12MappedCountStaysHighAndTheCheckerSaysSo) {
  auto [fixed_mapped, fixed] = map_then_remove();
  EXPECT_EQ(fixed_mapped, 10u);
  EXPECT_TRUE(fixed.passed(false));
  ScopedBug bug(BugId::pm12_mapped_blocks_not_decremented);
  auto [buggy_mapped, buggy] = map_then_remove();
  EXPECT_EQ(buggy_mapped, 40u);
  EXPECT_FALSE(buggy.passed(false));
  EXPECT_TRUE(findings_mention(buggy, "device details say 40")) << buggy.findings.list().front().to_string();
}

TEST_F(BugZoo, Pm12StatusDisagreesWithTheReferenceModel) {
  const std::string text = R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 131072 thin pool 0"
write thin 0 1M seed:1
discard thin 0 512K
status thin expect mapped_sectors=1024
)";
  EXPECT_TRUE(run_text(text).passed());
  ScopedBug bug(BugId::pm12_mapped_blocks_not_decremented);
  auto r = run_text(text);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(failure_of(r).find("mapped_sectors"), std::string::npos) << failure_of(r);
}

// ---------------------------------------------------------------------------------------
// BZ-BT-07: nested delete skips the innermost trees

namespace {

check::CheckResult release_after_live_changes() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 300);
  pmd->reserve_metadata_snap();
  pmd->commit();
  add_mappings(*pmd, 1000, 10);  // the live device tree is shadowed away from the held one
  pmd->commit();
  pmd->release_metadata_snap();  // deletes the held two-level tree
  pmd->commit();
  return check_disk(dev);
}

}  // namespace

TEST_F(BugZoo, Bt07NestedDeleteLeaksTheDeviceTrees) {
  EXPECT_TRUE(release_after_live_changes().passed(false));
  ScopedBug bug(BugId::bt07_nested_delete_skips_innermost);
  auto buggy = release_after_live_changes();
  EXPECT_FALSE(buggy.passed(false));
  EXPECT_TRUE(findings_mention(buggy, "leak")) << buggy.findings.list().front().to_string();
}

// ---------------------------------------------------------------------------------------
// BZ-BT-08: lookup_next gives up below the first key of an internal node

namespace {

std::pair<bool, uint64_t> range_ops_below_first_key() {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 600, 1000);  // several leaves under an internal root
  ThinDevice& td = pmd->open_thin(1);
  bool found = pmd->find_mapped_range(td, 0, 5000).has_value();
  pmd->remove_range(td, 0, 5000);
  uint64_t left = pmd->mapped_count(td);
  pmd->close_thin(td);
  return {found, left};
}

}  // namespace

TEST_F(BugZoo, Bt08RangeOperationsSkipWholeSubtrees) {
  auto [fixed_found, fixed_left] = range_ops_below_first_key();
  EXPECT_TRUE(fixed_found);
  EXPECT_EQ(fixed_left, 0u);
  ScopedBug bug(BugId::bt08_lookup_next_no_clamp);
  auto [buggy_found, buggy_left] = range_ops_below_first_key();
  EXPECT_FALSE(buggy_found);
  EXPECT_EQ(buggy_left, 600u);  // the discard removed nothing
}

// ---------------------------------------------------------------------------------------
// BZ-PM-13: duplicate device ids

TEST_F(BugZoo, Pm13DuplicateIdIsAcceptedAndTheDeviceLosesItsMappings) {
  pdata::MemoryBlockDevice dev(1024 * 8);
  auto pmd = open_pool(dev);
  thin_with_mappings(*pmd, 5);
  EXPECT_EQ(err_of([&] { pmd->create_thin(1); }), EEXIST);
  EXPECT_EQ(err_of([&] { pmd->create_snap(1, 1); }), EEXIST);
  {
    ScopedBug bug(BugId::pm13_duplicate_device_id_accepted);
    EXPECT_EQ(err_of([&] { pmd->create_thin(1); }), 0);
  }
  ThinDevice& td = pmd->open_thin(1);
  EXPECT_FALSE(pmd->find_block(td, 0).has_value());  // replaced by an empty tree
  EXPECT_EQ(pmd->mapped_count(td), 5u);
  pmd->close_thin(td);
  pmd->commit();
  EXPECT_FALSE(clean(dev));
}

// ---------------------------------------------------------------------------------------
// Pool modes: BZ-PM-01, BZ-PM-03, BZ-PM-04

namespace {

// A 16-block pool, filled, then one more write queued in out-of-data-space mode.
const char* kFullPool = R"(
disk meta 4M
disk data 1M
create pool "0 2048 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 4096 thin pool 0"
write thin 0 1M seed:1
write thin 1M 4K seed:2 as w1 expect queued
)";

}  // namespace

TEST_F(BugZoo, Pm01RunningOutOfDataSpaceGoesReadOnly) {
  const std::string text = std::string(kFullPool) + "status pool expect mode=out_of_data_space\n";
  EXPECT_TRUE(run_text(text).passed());
  ScopedBug bug(BugId::pm01_out_of_data_space_aborts);
  auto r = run_text(text);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(failure_of(r).find("queued"), std::string::npos) << failure_of(r);  // failed instead
}

TEST_F(BugZoo, Pm03DiscardIsRefusedOutOfDataSpace) {
  const std::string text = std::string(kFullPool) + "discard thin 0 64K\n";
  auto fixed = run_text(text);
  EXPECT_TRUE(fixed.passed()) << failure_of(fixed);
  ScopedBug bug(BugId::pm03_discard_refused_out_of_data_space);
  auto r = run_text(text);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(failure_of(r).find("discard"), std::string::npos) << failure_of(r);
}

TEST_F(BugZoo, Pm04NoSpaceTimeoutDropsToReadOnly) {
  const std::string text = std::string(kFullPool) +
                           "sleep 61s\n"
                           "status pool expect mode=out_of_data_space no_space=error_if_no_space\n";
  auto fixed = run_text(text);
  EXPECT_TRUE(fixed.passed()) << failure_of(fixed);
  ScopedBug bug(BugId::pm04_no_space_timeout_read_only);
  auto r = run_text(text);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(failure_of(r).find("mode"), std::string::npos) << failure_of(r);
}
