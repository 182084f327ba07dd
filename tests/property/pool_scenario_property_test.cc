// Property test of the live pool against the reference model: random scenarios (dozens
// of devices, snapshots of anything, long snapshot chains, partial and whole-block
// writes, discards, flushes, FUA, commits through status and time, data and metadata
// resizes, metadata snapshots, running out of data space in both no-space modes, metadata
// write errors and offline repair; pool_scenario_gen.h) run through dm
// core with ModelCheck comparing every step. rapidcheck shrinks a failure to a short
// scenario, printed in the scenario language so it can be saved and replayed with
// `thinsim run --check-model`.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "harness/model_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "tests/property/pool_scenario_gen.h"

using namespace thinsim::harness;
using namespace thinsim::harness::generated;

namespace {

void check_scenario(const std::string& text) {
  Scenario sc = parse_scenario(text, "generated.scn");
  ScenarioRunner runner;
  runner.set_require_success(false);
  ModelCheck mc(60'000);
  runner.add_observer(mc);
  RunResult r = runner.run(sc);
  if (!r.passed()) {
    RC_LOG() << text << "\n" << to_string(r.failure->where) << ": " << r.failure->message << "\n";
    RC_FAIL("the pool and the reference model diverge");
  }
}

}  // namespace

RC_GTEST_PROP(PoolScenarioProperty, AgreesWithReferenceModel, ()) {
  auto features = *gen_features();
  const bool faults = *gen_with_faults();
  auto steps = *rc::gen::resize(120, rc::gen::container<std::vector<std::string>>(gen_step(faults)));
  check_scenario(build_scenario(features, steps));
}

// Snapshot chains more than 100 deep, with writes at random levels.
RC_GTEST_PROP(PoolScenarioProperty, DeepSnapshotChains, ()) {
  unsigned depth = *rc::gen::inRange(100u, 140u);
  std::vector<std::string> steps = {"message pool 0 \"create_thin 0\"",
                                    "create t0 \"0 4096 thin pool 0\"", "write t0 0 512K seed:1"};
  auto writes = *rc::gen::container<std::vector<std::pair<unsigned, unsigned>>>(
      depth / 4, rc::gen::pair(rc::gen::inRange(1u, depth + 1), rc::gen::inRange(0u, 4096u)));
  for (unsigned d = 1; d <= depth; ++d) {
    steps.push_back("message pool 0 \"create_snap " + std::to_string(d) + " " + std::to_string(d - 1) + "\"");
    for (auto [level, sector] : writes)
      if (level == d) {
        steps.push_back("create t" + std::to_string(d) + " \"0 4096 thin pool " + std::to_string(d) + "\"");
        steps.push_back("write t" + std::to_string(d) + " " + std::to_string(sector) + "s 8s seed:" +
                        std::to_string(d));
        steps.push_back("remove t" + std::to_string(d));
      }
  }
  steps.push_back("create t" + std::to_string(depth) + " \"0 4096 thin pool " + std::to_string(depth) + "\"");
  steps.push_back("read t" + std::to_string(depth) + " 0 2M");
  steps.push_back("status pool");
  check_scenario(build_scenario("", steps));
}
