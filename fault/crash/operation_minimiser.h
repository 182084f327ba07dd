// Operation minimisation of a crash-exploration failure: the scenario's commands are
// removed, in chunks and then one by one (delta debugging), as long as exploring what is
// left still fails with the same oracle. What remains is the smallest sequence of
// operations this search found that still shows the bug; the survivor set is minimised
// afterwards, on that sequence, by the explorer itself.
//
// Every trial is a full deterministic exploration (same seed, contracts and switches), so
// the result depends only on the inputs; the number of trials is bounded, never the time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fault/crash/crash_explorer.h"
#include "harness/scenario_ast.h"

namespace thinsim::fault {

struct MinimisedScenario {
  harness::Scenario scenario;  // the reduced scenario (commands keep their original locations)
  CrashFailure failure;        // its failure, survivor set minimised
  std::vector<std::string> trace;  // the operation trace of that exploration
  size_t steps_before = 0, steps_after = 0;
  uint64_t trials = 0;
  bool budget_exhausted = false;  // stopped by max_trials, not by a local minimum
};

class OperationMinimiser {
 public:
  // options: the exploration that found the failure; max_trials bounds the explorations.
  OperationMinimiser(const ExploreOptions& options, uint64_t max_trials);

  // Shrinks `scenario`, whose exploration failed with `failure` (its operation trace:
  // `trace`). Always returns a scenario that fails with failure.oracle (at worst the
  // original one, with the original failure and trace).
  MinimisedScenario minimise(const harness::Scenario& scenario, const CrashFailure& failure,
                             const std::vector<std::string>& trace);

 private:
  // The first failure of exploring `s` if its oracle is `oracle`.
  std::optional<CrashFailure> still_fails(const harness::Scenario& s, const std::string& oracle);

  ExploreOptions options_;
  uint64_t max_trials_;
  uint64_t trials_ = 0;
};

}  // namespace thinsim::fault
