// Crash exploration of the bundled scenarios, and the oracles catching what they must.
#include <gtest/gtest.h>

#include "fault/crash/crash_explorer.h"
#include "fault/crash/operation_minimiser.h"
#include "model/bugzoo/bug_switch.h"
#include "harness/scenario_parser.h"
#include "tests/support/bundled_scenarios.h"

namespace thinsim {
namespace {

fault::ExploreResult explore(const std::string& file, fault::ExploreOptions o = {}) {
  fault::CrashExplorer e(o);
  return e.run(harness::parse_scenario_file(file));
}

std::string describe(const fault::ExploreResult& r) {
  std::string s;
  for (const auto& f : r.failures) s += f.oracle + " at IO " + std::to_string(f.seq) + ": " + f.message + "\n  " + f.plan + "\n";
  if (r.run_failure) s += "run: " + r.run_failure->message + "\n";
  return s;
}

class BundledExploration : public ::testing::TestWithParam<std::string> {};

TEST_P(BundledExploration, EveryRecoveredStatePassesEveryOracle) {
  fault::ExploreResult r = explore(GetParam());
  EXPECT_TRUE(r.passed()) << describe(r);
  EXPECT_GT(r.distinct, 0u);
  EXPECT_GT(r.commits, 0u);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, BundledExploration,
                         ::testing::ValuesIn(test_support::bundled_scenarios(THINSIM_SCENARIO_DIR)),
                         test_support::scenario_test_name);

const std::string kThin = std::string(THINSIM_SCENARIO_DIR) + "/cookbook/02-thin-volume.scn";

TEST(CrashExplorer, IsDeterministic) {
  fault::ExploreResult a = explore(kThin), b = explore(kThin);
  EXPECT_EQ(a.states, b.states);
  EXPECT_EQ(a.distinct, b.distinct);
  EXPECT_EQ(a.crash_points, b.crash_points);
}

TEST(CrashExplorer, ACacheThatIgnoresFlushIsCaughtAndReplays) {
  fault::ExploreOptions o;
  o.contract.honours_flush = false;
  fault::ExploreResult r = explore(kThin, o);
  ASSERT_FALSE(r.failures.empty()) << "a lying cache must lose committed data";
  const fault::CrashFailure& f = r.failures.front();
  EXPECT_TRUE(f.oracle == "structure" || f.oracle == "refinement" || f.oracle == "durability") << f.oracle;
  EXPECT_LE(f.survivors, f.survivors_before_minimising);
  EXPECT_FALSE(f.metadata_image.empty());
  // The bundle's choice rebuilds the same verdict.
  o.replay = fault::CrashChoice{f.seq, f.choices, 0, {}};
  fault::ExploreResult again = explore(kThin, o);
  ASSERT_TRUE(again.replay_reached);
  ASSERT_FALSE(again.failures.empty());
  EXPECT_EQ(again.failures.front().oracle, f.oracle);
  EXPECT_EQ(again.failures.front().message, f.message);
}

TEST(CrashExplorer, WriteThroughDisksLeaveOneStatePerPoint) {
  fault::ExploreOptions o;
  o.contract.volatile_cache = false;
  fault::ExploreResult r = explore(kThin, o);
  EXPECT_TRUE(r.passed()) << describe(r);
}

TEST(CrashExplorer, FourKilobyteAtomicDisksPass) {
  fault::ExploreOptions o;
  o.contract.atomic_unit = 4096;
  o.contract.torn_sectors = false;
  EXPECT_TRUE(explore(kThin, o).passed());
}

TEST(CrashExplorer, TearableSectorsPass) {
  fault::ExploreOptions o;
  o.contract.torn_sectors = true;
  fault::ExploreResult r = explore(kThin, o);
  EXPECT_TRUE(r.passed()) << describe(r);
}

// BZ-DS-08 (the data device is not flushed before the commit) on a 15-command scenario:
// the minimiser keeps only what the bug needs — the pool, one thin, a write and the
// flush whose commit relies on it — and the result still fails the same way, every time.
TEST(OperationMinimiser, ShrinksABugZooFailureToTheOperationsItNeeds) {
  bugzoo::ScopedBug bug("BZ-DS-08");
  const std::string file = std::string(THINSIM_SCENARIO_DIR) + "/bugzoo/allocator-wrap.scn";
  const harness::Scenario scenario = harness::parse_scenario_file(file);
  fault::ExploreOptions o;
  fault::CrashExplorer explorer(o);
  fault::ExploreResult r = explorer.run(scenario);
  ASSERT_FALSE(r.failures.empty());
  ASSERT_EQ(r.failures.front().oracle, "durability");

  fault::MinimisedScenario m = fault::OperationMinimiser(o, 300).minimise(scenario, r.failures.front(), r.trace);
  EXPECT_EQ(m.steps_before, scenario.commands.size());
  EXPECT_LT(m.steps_after, m.steps_before);
  EXPECT_LE(m.steps_after, 8u) << harness::to_text(m.scenario);
  EXPECT_FALSE(m.budget_exhausted);
  EXPECT_EQ(m.failure.oracle, "durability");
  EXPECT_FALSE(m.trace.empty());
  // The reduced scenario, as text (what the bundle's scenario.scn holds), fails again.
  const harness::Scenario reparsed = harness::parse_scenario(harness::to_text(m.scenario), "minimised.scn");
  fault::CrashExplorer again_explorer(o);
  fault::ExploreResult again = again_explorer.run(reparsed);
  ASSERT_FALSE(again.failures.empty());
  EXPECT_EQ(again.failures.front().oracle, "durability");
  EXPECT_EQ(again.failures.front().seq, m.failure.seq);
  // Deterministic: the same inputs shrink to the same scenario.
  fault::MinimisedScenario m2 = fault::OperationMinimiser(o, 300).minimise(scenario, r.failures.front(), r.trace);
  EXPECT_EQ(harness::to_text(m2.scenario), harness::to_text(m.scenario));
  EXPECT_EQ(m2.trials, m.trials);
}

TEST(OperationMinimiser, ABudgetOfOneKeepsAFailingScenario) {
  bugzoo::ScopedBug bug("BZ-DS-08");
  const harness::Scenario scenario =
      harness::parse_scenario_file(std::string(THINSIM_SCENARIO_DIR) + "/bugzoo/allocator-wrap.scn");
  fault::ExploreOptions o;
  fault::CrashExplorer explorer(o);
  fault::ExploreResult r = explorer.run(scenario);
  ASSERT_FALSE(r.failures.empty());
  fault::MinimisedScenario m = fault::OperationMinimiser(o, 1).minimise(scenario, r.failures.front(), r.trace);
  EXPECT_TRUE(m.budget_exhausted);
  EXPECT_EQ(m.failure.oracle, "durability");
  EXPECT_LE(m.steps_after, m.steps_before);
}

TEST(SecondCrash, RecoveriesFromPassingStatesPassToo) {
  fault::ExploreOptions o;
  o.second_crash = 500;
  fault::ExploreResult r = explore(kThin, o);
  EXPECT_TRUE(r.passed()) << describe(r);
  EXPECT_GT(r.second_crash_explorations, 0u);
  EXPECT_GT(r.second_crash_states, r.second_crash_explorations);
}

// The first run's disks honour FLUSH, the recovery's do not: only a second crash, during
// the recovery's commits, can lose what they relied on. Its choice replays.
TEST(SecondCrash, ACacheThatIgnoresFlushAfterThePowerCutIsCaughtAndReplays) {
  fault::ExploreOptions o;
  o.second_crash = 500;
  o.recovery_contract = sim::DiskContract{};
  o.recovery_contract->honours_flush = false;
  fault::ExploreResult r = explore(kThin, o);
  ASSERT_FALSE(r.failures.empty()) << "a recovery on a lying cache must lose its commit";
  const fault::CrashFailure& f = r.failures.front();
  EXPECT_GT(f.second_seq, 0u);
  EXPECT_FALSE(f.recovery_scenario.empty());
  o.replay = fault::CrashChoice{f.seq, f.choices, f.second_seq, f.second_choices};
  fault::ExploreResult again = explore(kThin, o);
  ASSERT_TRUE(again.replay_reached);
  ASSERT_FALSE(again.failures.empty());
  EXPECT_EQ(again.failures.front().oracle, f.oracle);
  EXPECT_EQ(again.failures.front().message, f.message);
}

}  // namespace
}  // namespace thinsim
