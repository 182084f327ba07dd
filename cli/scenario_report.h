// thinsim run --report DIR: the results of a scenario run as files a CI dashboard reads.
//   DIR/scenarios.json         every scenario: status, steps, commits checked, failure
//   DIR/scenarios-junit.xml    one testcase per scenario
//   DIR/bundles/scenario-*/    per failure: the trace, the failure, the replay command and
//                              (with --check-peer) the metadata images and dumps
//   DIR/../history.jsonl       one line appended per run
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace thinsim::cli {

struct ScenarioOutcome {
  std::string file;
  bool passed = false;
  size_t steps = 0;
  uint64_t commits_checked = 0;   // with --check-peer
  double seconds = 0;
  std::string where, message, command;  // when failed
  std::vector<std::string> trace;
  std::string replay;
  std::optional<std::string> peer_dir;  // kept images and dumps, when failed
};

struct ScenarioRunInfo {
  std::string started;  // UTC ISO-8601
  double seconds = 0;
  bool check_model = false, check_peer = false;
  std::string command;
};

// Throws std::runtime_error naming the file that could not be written.
void write_scenario_report(const std::string& dir, const ScenarioRunInfo& run,
                           std::vector<ScenarioOutcome>& outcomes);

}  // namespace thinsim::cli
