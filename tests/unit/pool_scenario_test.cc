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
