#include "fault/crash/operation_minimiser.h"

#include <algorithm>

namespace thinsim::fault {

OperationMinimiser::OperationMinimiser(const ExploreOptions& options, uint64_t max_trials)
    : options_(options), max_trials_(max_trials) {
  // Trials only need a verdict: the first failure, no survivor shrinking, no peer, quiet.
  options_.stop_at_first_failure = true;
  options_.minimise = false;
  options_.peer_sample = 0;
  options_.replay.reset();
  options_.progress = nullptr;
}

std::optional<CrashFailure> OperationMinimiser::still_fails(const harness::Scenario& s, const std::string& oracle) {
  ++trials_;
  CrashExplorer explorer(options_);
  ExploreResult r = explorer.run(s);
  if (r.failures.empty() || r.failures.front().oracle != oracle) return std::nullopt;
  return std::move(r.failures.front());
}

MinimisedScenario OperationMinimiser::minimise(const harness::Scenario& scenario, const CrashFailure& failure,
                                               const std::vector<std::string>& trace) {
  MinimisedScenario m;
  m.scenario = scenario;
  m.failure = failure;
  m.trace = trace;
  m.steps_before = scenario.commands.size();
  std::vector<harness::Command>& cmds = m.scenario.commands;

  // ddmin's complement search: try dropping each of n chunks; on success keep the rest
  // and coarsen, otherwise refine until the chunks are single commands.
  size_t n = 2;
  while (cmds.size() >= 2) {
    const size_t chunk = (cmds.size() + n - 1) / n;
    bool reduced = false;
    for (size_t start = 0; start < cmds.size() && !reduced; start += chunk) {
      if (trials_ >= max_trials_) {
        m.budget_exhausted = true;
        break;
      }
      harness::Scenario candidate{m.scenario.file, {}};
      for (size_t i = 0; i < cmds.size(); ++i)
        if (i < start || i >= start + chunk) candidate.commands.push_back(cmds[i]);
      if (still_fails(candidate, failure.oracle)) {
        m.scenario = std::move(candidate);
        n = std::max<size_t>(n - 1, 2);
        reduced = true;
      }
    }
    if (m.budget_exhausted) break;
    if (!reduced) {
      if (chunk == 1) break;  // no single command can go: a local minimum
      n = std::min(cmds.size(), n * 2);
    }
  }

  // The final failure, with the survivor set minimised as a normal exploration does.
  ExploreOptions final_options = options_;
  final_options.minimise = true;
  ++trials_;
  CrashExplorer explorer(final_options);
  ExploreResult r = explorer.run(m.scenario);
  if (!r.failures.empty() && r.failures.front().oracle == failure.oracle) {
    m.failure = std::move(r.failures.front());
    m.trace = std::move(r.trace);
  } else {
    // Cannot happen for a deterministic explorer; keep the original rather than lie.
    m.scenario = scenario;
  }
  m.steps_after = m.scenario.commands.size();
  m.trials = trials_;
  return m;
}

}  // namespace thinsim::fault
