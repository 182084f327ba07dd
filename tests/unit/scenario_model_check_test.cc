// thinsim run --check-model: the reference model agrees with the pool on every bundled
// scenario and on scenarios that exercise the translation (held IO, pools re-created over
// their metadata, table reloads), and it reports divergences planted behind the pool's back.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "harness/model_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "tests/support/bundled_scenarios.h"
#include "model/pool/pool.h"
#include "model/pool/thin_target.h"

namespace thinsim::harness {
namespace {

using test_support::failure_of;

// A runner with the model check attached; run() may be called several times on the same
// devices, so a test can tamper with the pool between two parts of a scenario.
struct Checked {
  ScenarioRunner runner;
  ModelCheck check{60'000};
  Checked() { runner.add_observer(check); }
  RunResult run(const std::string& text) { return runner.run(parse_scenario(text, "test.scn")); }
  DmCore& dm() { return runner.dm(); }
};

// ---------------------------------------------------------------------------------------
// Every bundled scenario, with the reference model compared after every step.

class BundledScenarioChecked : public ::testing::TestWithParam<std::string> {};

TEST_P(BundledScenarioChecked, ReferenceModelAgrees) {
  const Scenario scenario = parse_scenario_file(GetParam());
  {
    ScenarioRunner plain;
    auto r = plain.run(scenario);
    // That is pool_scenario_test's failure; here only the reference model's verdict counts.
    if (!r.passed()) GTEST_SKIP() << "fails its own expectations: " << r.failure->message;
  }
  ScenarioRunner runner;
  ModelCheck check(60'000);
  runner.add_observer(check);
  auto r = runner.run(scenario);
  EXPECT_TRUE(r.passed()) << failure_of(r);
}


INSTANTIATE_TEST_SUITE_P(Scenarios, BundledScenarioChecked,
                         ::testing::ValuesIn(test_support::bundled_scenarios(THINSIM_SCENARIO_DIR)),
                         test_support::scenario_test_name);

// ---------------------------------------------------------------------------------------
// Agreement on the translation's harder cases.

constexpr const char* kPool = R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 131072 thin pool 0"
)";

TEST(ModelCheck, IoHeldWhileSuspendedIsSubmittedOnResume) {
  Checked c;
  auto r = c.run(std::string(kPool) + R"(
suspend thin
write thin 0 4K seed:1 as w1 expect queued
read thin 0 4K as r1 expect queued
resume thin
complete w1 expect ok
complete r1 expect seed:1
suspend pool
write thin 64K 64K seed:2 as w2 expect queued
discard thin 0 64K as d1 expect queued
resume pool
complete w2 expect ok
complete d1 expect ok
read thin 0 128K
status pool expect used_data=1
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

TEST(ModelCheck, SnapshotsDiscardsAndFuaAgree) {
  Checked c;
  auto r = c.run(std::string(kPool) + R"(
write thin 0 256K seed:1
suspend thin
message pool 0 "create_snap 1 0"
resume thin
create snap "0 131072 thin pool 1"
write snap 4K 4K seed:2 fua
write thin 64K 64K seed:3
discard snap 128K 64K
discard thin 0 192K
flush snap
read snap 0 256K
read thin 0 256K
message pool 0 "set_transaction_id 0 5"
message pool 0 "reserve_metadata_snap"
status pool
status snap
remove snap
message pool 0 "delete 1"
status pool
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

TEST(ModelCheck, SkippedZeroingLeavesUndefinedSectorsUncompared) {
  Checked c;
  auto r = c.run(R"(
disk meta 4M
disk data 64M fill=byte:0x5a
create pool "0 131072 thin-pool meta data 128 0 1 skip_block_zeroing"
message pool 0 "create_thin 0"
create thin "0 131072 thin pool 0"
write thin 4K 4K seed:1
read thin 0 64K
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

TEST(ModelCheck, PoolRecreatedOverItsMetadataAndReloadedWithNewFeatures) {
  Checked c;
  auto r = c.run(std::string(kPool) + R"(
write thin 0 128K seed:1
remove thin
remove pool
create pool "0 131072 thin-pool meta data 128 0 1 read_only"
status pool expect mode=ro
reload pool "0 65536 thin-pool meta data 128 0 1 error_if_no_space"
resume pool expect error EINVAL
status pool expect mode=rw no_space=error_if_no_space
reload pool "0 131072 thin-pool meta data 128 0 1 error_if_no_space"
resume pool
status pool expect mode=rw no_space=error_if_no_space
create thin "0 131072 thin pool 0"
read thin 0 128K expect seed:1
write thin 1M 4K seed:2
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

TEST(ModelCheck, ExternalOriginReadsComeFromTheFillPattern) {
  Checked c;
  auto r = c.run(R"(
disk meta 4M
disk data 64M
disk origin 1056K fill=seed:9
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 8192 thin pool 0 origin"
write thin 1072K 4K seed:6
read thin 0 4M
)");
  EXPECT_TRUE(r.passed()) << failure_of(r);
}

// ---------------------------------------------------------------------------------------
// Planted divergences.

// The data block virtual block `v` of `thin` maps to, on the data disk.
uint64_t data_sector(DmCore& dm, const std::string& thin, uint64_t v) {
  pool::ThinTarget* t = dm.thin_of(thin);
  auto m = t->pool().pmd().find_block(t->device(), v);
  return m.value().block * t->pool().sectors_per_block();
}

void corrupt(DmCore& dm, uint64_t sector) {
  std::vector<std::byte> junk(4096, std::byte{0xee});
  dm.disk("data")->write(sector, junk);
}

TEST(ModelCheck, CorruptedDataIsReportedByTheNextRead) {
  Checked c;
  ASSERT_TRUE(c.run(std::string(kPool) + "write thin 0 128K seed:1\n").passed());
  corrupt(c.dm(), data_sector(c.dm(), "thin", 1) + 8);
  auto r = c.run("read thin 64K 64K\n");
  ASSERT_FALSE(r.passed());
  EXPECT_NE(r.failure->message.find("reference model: read to thin (device 0) [128+128)"),
            std::string::npos) << r.failure->message;
  EXPECT_NE(r.failure->message.find("data differs at byte 69632"), std::string::npos)
      << r.failure->message;
}

TEST(ModelCheck, CorruptedDataIsReportedAtTheEnd) {
  Checked c;
  ASSERT_TRUE(c.run(std::string(kPool) + "write thin 0 128K seed:1\n").passed());
  corrupt(c.dm(), data_sector(c.dm(), "thin", 0));
  auto r = c.run("status pool\n");
  ASSERT_FALSE(r.passed());
  EXPECT_EQ(r.failure->command, "(end of scenario)");
  EXPECT_NE(r.failure->message.find("contents: device 0 (thin) virtual block 0"), std::string::npos)
      << r.failure->message;
}

// Corrupts the block a write has just written, before the model check looks at the step.
class CorruptAfterWrite : public StepObserver {
 public:
  std::optional<std::string> after_step(const Command& cmd, const StepOutcome&,
                                        DmCore& dm) override {
    if (cmd.kind() == CommandKind::write && cmd.as<WriteCmd>().sector == 0)
      corrupt(dm, data_sector(dm, "thin", 0) + 16);
    return std::nullopt;
  }
};

TEST(ModelCheck, CorruptionOfTheBlockAStepWroteIsReportedAtThatStep) {
  ScenarioRunner runner;
  CorruptAfterWrite saboteur;
  ModelCheck check(60'000);
  runner.add_observer(saboteur);
  runner.add_observer(check);
  const std::string text = std::string(kPool) + "write thin 0 4K seed:1\nstatus pool\n";
  auto r = runner.run(parse_scenario(text, "t.scn"));
  ASSERT_FALSE(r.passed());
  EXPECT_EQ(r.failure->command, "write thin 0s 8s seed:1");
  EXPECT_NE(r.failure->message.find(
                "contents: device 0 (thin) virtual block 0 (data block 0), byte 8192 of the block"),
            std::string::npos)
      << r.failure->message;
}

TEST(ModelCheck, MappingRemovedBehindThePoolsBackIsAStateDivergence) {
  Checked c;
  ASSERT_TRUE(c.run(std::string(kPool) + "write thin 0 192K seed:1\n").passed());
  pool::ThinTarget* t = c.dm().thin_of("thin");
  t->pool().pmd().remove_range(t->device(), 1, 2);
  auto r = c.run("table pool\n");
  ASSERT_FALSE(r.passed());
  EXPECT_EQ(r.failure->message,
            "state: device 0 (thin) maps virtual block 1 in the reference but not in the pool");
}

TEST(ModelCheck, SharingCreatedBehindThePoolsBackIsAStateDivergence) {
  Checked c;
  ASSERT_TRUE(c.run(std::string(kPool) + R"(
message pool 0 "create_thin 1"
create other "0 131072 thin pool 1"
write thin 0 64K seed:1
write other 0 64K seed:2
)").passed());
  pool::ThinTarget* t = c.dm().thin_of("other");
  t->pool().pmd().insert_block(t->device(), 0, data_sector(c.dm(), "thin", 0) / 128);
  auto r = c.run("table pool\n");
  ASSERT_FALSE(r.passed());
  EXPECT_EQ(r.failure->message,
            "state: device 0 (thin) maps virtual block 0 to a block shared with device 1 (other) "
            "(virtual block 0) in the pool but not in the reference");
}

TEST(ModelCheck, MessageBehindTheReferencesBackIsReported) {
  Checked c;
  ASSERT_TRUE(c.run(kPool).passed());
  ASSERT_EQ(c.dm().message("pool", 0, "create_thin 5").err, 0);
  auto r = c.run("message pool 0 \"create_thin 5\" expect error EEXIST\n");
  ASSERT_FALSE(r.passed());
  EXPECT_EQ(r.failure->message,
            "reference model: message \"create_thin 5\" to pool: model says error EEXIST, "
            "reference says ok");
}

}  // namespace
}  // namespace thinsim::harness

namespace thinsim::harness {
namespace {

constexpr const char* kFaultPool = R"(
disk meta 4M
disk data 64M
create pool "0 131072 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 131072 thin pool 0"
write thin 0 64K seed:1
flush thin
)";

// Every commit fails while the fault lasts: the reference follows the abort, needs_check
// and read-only mode, and the failed message's change is lost though the message succeeded.
TEST(ModelCheck, MetadataWriteErrorsUntilClearedAreFollowed) {
  ScenarioRunner runner;
  ModelCheck check(60'000);
  runner.add_observer(check);
  auto r = runner.run(parse_scenario(std::string(kFaultPool) + R"(
fault meta error write
message pool 0 "create_thin 1"
status pool expect mode=ro needs_check=needs_check transaction_id=0
message pool 0 "create_snap 2 0" expect error EOPNOTSUPP
read thin 0 64K expect seed:1
fault meta clear
remove thin
remove pool
create pool "0 131072 thin-pool meta data 128 0"
status pool expect mode=ro needs_check=needs_check
)", "test.scn"));
  std::string s = r.passed() ? "" : r.failure->message;
  EXPECT_TRUE(r.passed()) << s;
}

// A fault whose effect depends on the block cache or the btree layout is refused by name.
TEST(ModelCheck, FaultsTheReferenceCannotFollowAreReported) {
  for (const char* f : {"fault meta error read", "fault meta error write count=2",
                        "fault meta error write after=1", "fault data error write"}) {
    ScenarioRunner runner;
    ModelCheck check(60'000);
    runner.add_observer(check);
    auto r = runner.run(parse_scenario(std::string(kFaultPool) + f + "\n", "test.scn"));
    ASSERT_FALSE(r.passed()) << f;
    EXPECT_NE(r.failure->message.find("cannot follow"), std::string::npos) << r.failure->message;
  }
}

}  // namespace
}  // namespace thinsim::harness
