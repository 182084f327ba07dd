// The live pool driven by scenario text: the cookbook behaviours, end to end through
// dm core, checked by the scenarios' own expectations.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "tests/support/bundled_scenarios.h"

namespace thinsim::harness {
namespace {

RunResult run_text(const std::string& text) {
  ScenarioRunner runner;
  return runner.run(parse_scenario(text, "test.scn"));
}

using test_support::failure_of;

TEST(PoolScenario, FreshPoolStatus) {
  auto r = run_text(R"(
disk meta 16M
disk data 1G
create pool "0 2097152 thin-pool meta data 128 32768"
status pool expect "0 419/4096 0/16384 - rw discard_passdown queue_if_no_space - 1024"
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

// A huge IO on a huge device is refused before any buffer is allocated.
TEST(PoolScenario, OversizedIoIsRefusedNotAllocated) {
  auto r = run_text(R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create t "0 2199023255552 thin pool 0"
read t 0 1T expect error EINVAL "limit"
write t 0 2G seed:1 expect error EINVAL "limit"
discard t 0 1T
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

}  // namespace
}  // namespace thinsim::harness

namespace thinsim::harness {
namespace {

// Every bundled scenario passes its own expectations.
class BundledScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(BundledScenario, Passes) {
  ScenarioRunner runner;
  auto r = runner.run(parse_scenario_file(GetParam()));
  EXPECT_TRUE(r.passed()) << failure_of(r);
}


INSTANTIATE_TEST_SUITE_P(Scenarios, BundledScenario, ::testing::ValuesIn(test_support::bundled_scenarios(THINSIM_SCENARIO_DIR)),
                         test_support::scenario_test_name);

}  // namespace
}  // namespace thinsim::harness

namespace thinsim::harness {
namespace {

// Running out of metadata space while provisioning: the allocation's commit switches the
// pool to out-of-metadata-space mode, and the new block's mapping is then failed
// (process_prepared_mapping_fail), not inserted into read-only metadata: the write fails
// with EIO, no abort, no needs_check.
TEST(PoolScenario, MetadataRunsOutWhileProvisioning) {
  ScenarioRunner runner;
  auto run = [&](const std::string& text) { return runner.run(parse_scenario(text, "test.scn")); };
  ASSERT_TRUE(run(R"(
disk meta 512K
disk data 256M
create pool "0 524288 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create t0 "0 131072 thin pool 0"
write t0 0 64M seed:1
)").passed());
  runner.set_require_success(false);
  bool failed = false;
  for (int i = 1; i < 200 && !failed; ++i) {
    std::string step = "message pool 0 \"create_snap " + std::to_string(i) + " " + std::to_string(i - 1) +
                       "\"\ncreate s \"0 131072 thin pool " + std::to_string(i) + "\"\n";
    for (int b : {5, 260, 515, 770})
      step += "write s " + std::to_string(b * 64 + (i % 15) * 4) + "K 4K seed:2 as w\n";
    RunResult r = run(step + "remove s\n");
    ASSERT_TRUE(r.passed()) << failure_of(r);
    failed = r.trace.size() > 2 && std::any_of(r.trace.begin(), r.trace.end(), [](const std::string& t) {
               return t.find("write s") != std::string::npos && t.find("error EIO") != std::string::npos;
             });
  }
  ASSERT_TRUE(failed) << "the metadata never ran out";
  auto r = run("status pool expect mode=ro needs_check=-\nmessage pool 0 \"create_thin 999\" expect error EOPNOTSUPP\n");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

}  // namespace
}  // namespace thinsim::harness

namespace thinsim::harness {
namespace {

// pool_create leaves a new pool object suspended until its first successful resume: a thin
// device cannot be activated over a pool whose table was refused at resume.
// libdevmapper's create reverts a failed resume as it does a failed load: the pool whose
// preresume refuses the data device is gone afterwards (the kernel agrees under thinsim
// oracle: scenarios/errors/failed-create-reverts.scn).
TEST(PoolScenario, ACreateWhoseResumeFailsIsReverted) {
  auto r = ScenarioRunner().run(parse_scenario(R"(
disk meta 4M
disk data 64M
create pool "0 16384 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
remove pool
create pool "0 8192 thin-pool meta data 128 0" expect error EINVAL "too small"
create t "0 8192 thin pool 0" expect error ENODEV
remove pool expect error ENXIO
)", "test.scn"));
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

// Without zeroing, a write to a new block is remapped and issued in the worker pass that
// inserts its mapping; when that pass also commits (here: the commit timer is due), the
// commit's flush of the data device comes before the write is done (process_deferred_bios
// in drivers/md/dm-thin.c, v6.1). A power cut then keeps the mapping and loses the data:
// the block reads what the disk held before. With zeroing on, the zeroes are written
// before the mapping is inserted and read back instead.
TEST(PoolScenario, ATimedCommitComesBeforeTheDataItsPassIssued) {
  for (const char* features : {"1 skip_block_zeroing", "0"}) {
    auto r = ScenarioRunner().run(parse_scenario(std::string(R"(
disk meta 4M
disk data 64M fill=seed:5
create pool "0 131072 thin-pool meta data 128 0 )") + features + R"("
message pool 0 "create_thin 0"
create thin "0 8192 thin pool 0"
sleep 1001ms
write thin 4K 4K seed:1
crash
create pool "0 131072 thin-pool meta data 128 0"
status pool expect used_data=1
create thin "0 8192 thin pool 0"
read thin 4K 4K expect )" + (features[0] == '1' ? std::string("seed:5") : std::string("zero")) + "\n",
                                                   "test.scn"));
    EXPECT_TRUE(r.passed()) << features << ": " << failure_of(r);
  }
}

// table_load in drivers/md/dm-ioctl.c (v6.1) calls populate_table, which runs the
// constructors, before its immutable-target and device-type checks. So a constructor's
// error wins (pool_ctr's EBUSY for a metadata device another pool uses), a thin device may
// be reloaded with a thin-pool table (both are bio-based), and only a pool device, whose
// target is DM_TARGET_IMMUTABLE, refuses another target (the kernel agrees on all three
// lines under thinsim oracle).
TEST(PoolScenario, TableLoadRunsTheConstructorBeforeTheTypeChecks) {
  auto r = run_text(R"(
disk meta 4M
disk data 64M
disk meta2 4M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create t "0 2048 thin pool 0"
reload t "0 2048 thin-pool meta data 128 0" expect error EBUSY "already in use by a pool"
reload pool "0 2048 thin pool 0" expect error EINVAL "immutable target type"
reload t "0 2048 thin-pool meta2 data 128 0" expect ok
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

}  // namespace
}  // namespace thinsim::harness
