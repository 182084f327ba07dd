// Crash exploration of the bundled scenarios, and the oracles catching what they must.
#include <gtest/gtest.h>

#include "fault/crash/crash_explorer.h"
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
  o.replay = fault::CrashChoice{f.seq, f.choices};
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

}  // namespace
}  // namespace thinsim
