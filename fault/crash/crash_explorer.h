// Crash exploration of one scenario: the scenario runs once over simulated disks (each a
// SimDisk with its own volatile cache), and at every IO (a power cut with that IO in
// flight, inside commits included) every state the caches may leave behind is built —
// all of them up to a bound, seeded samples beyond it — deduplicated by a hash of the
// durable images, and judged by the crash oracles. The run itself is checked too: the
// copy-on-write rule at every metadata write, the pool's mode after metadata IO errors,
// and (optionally) the reference model after every step.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fault/crash_plan.h"
#include "harness/scenario_ast.h"
#include "harness/scenario_runner.h"
#include "model/bugzoo/fault_point.h"
#include "sim/disk_contract.h"

namespace thinsim::fault {

struct ExploreProgress {
  uint64_t crash_points = 0, states = 0, distinct = 0, failed = 0;
  uint64_t io_total = 0;  // crash points the run will have (from a dry run), 0 if unknown
  double seconds = 0;
};

// A crash state to rebuild instead of exploring (a bundle's replay). With second_seq, the
// state is a second crash, at that IO of the recovery workload run on the first.
struct CrashChoice {
  uint64_t seq = 0;
  std::vector<uint32_t> choices;
  uint64_t second_seq = 0;
  std::vector<uint32_t> second_choices;
};

struct ExploreOptions {
  uint64_t seed = 1;
  uint64_t exhaustive_bound = 256;  // a crash point with at most this many states: all
  uint32_t samples = 24;            // else this many seeded samples
  TearOptions tear;
  sim::DiskContract contract;  // of every disk, unless named in disk_contracts
  std::map<std::string, sim::DiskContract> disk_contracts;
  bool check_model = true;        // compare the run with the reference model
  bool stop_at_first_failure = true;
  bool minimise = true;           // shrink a failing state's survivor set
  uint64_t peer_sample = 0;       // the real thin_check on every Nth distinct state; 0: never
  std::string thin_check;         // its path (peer_sample needs it)
  std::optional<CrashChoice> replay;
  // With replay: the crash state's decisions come from these bytes (ByteChooser, a
  // fuzzer's input) instead of replay->choices; a failure records the choices made.
  std::optional<std::span<const uint8_t>> state_bytes;
  // A second crash during recovery: from every Nth distinct state that passed every
  // oracle, the recovery workload (fault/crash/recovery_workload.h) runs over that state
  // and each of its IOs is explored as a crash point in turn; 0: never.
  uint64_t second_crash = 0;
  // The disks' contract once the power is back (the recovery's), if not the same.
  std::optional<sim::DiskContract> recovery_contract;
  // Model fault points armed for the run (point, passes before it fires once), e.g. the
  // space-map root copy BZ-TM-02 is about.
  std::vector<std::pair<bugzoo::FaultPoint, uint64_t>> fault_points;
  std::function<void(const ExploreProgress&)> progress;  // about twice a second
};

struct CrashFailure {
  std::string oracle;  // structure, refinement, durability, needs-check, copy-on-write, mode, run
  std::string message;
  uint64_t seq = 0;    // the IO in flight at the power cut (0: not a crash state)
  size_t step = 0;     // 1-based scenario step running then
  harness::SourceLocation where;
  std::string command;
  std::vector<uint32_t> choices;
  std::string plan;  // what the crash kept
  size_t survivors_before_minimising = 0, survivors = 0;
  std::string expected_xml, recovered_xml;
  std::vector<std::byte> metadata_image;
  // The data device as written extents over its fill (sector, bytes).
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> data_extents;
  uint64_t data_sectors = 0;
  std::vector<std::string> io_trace;  // the IO up to the power cut, one line each
  double seconds_to_detection = 0;
  // A second crash during recovery: seq/choices/plan above are the first crash; the
  // images are the state after the second; the IO trace has both runs.
  uint64_t second_seq = 0;  // 0: a first crash
  std::vector<uint32_t> second_choices;
  std::string second_plan;
  std::string recovery_scenario;  // the workload's text
};

struct ExploreResult {
  bool passed() const { return failed == 0 && !run_failure; }
  uint64_t crash_points = 0, states = 0, distinct = 0, failed = 0, commits = 0;
  std::map<std::string, uint64_t> failed_by_oracle;
  uint64_t peer_checked = 0;
  uint64_t second_crash_explorations = 0, second_crash_states = 0;
  std::vector<std::string> peer_disagreements;
  std::optional<harness::StepFailure> run_failure;  // the scenario itself failed
  std::vector<CrashFailure> failures;
  std::vector<std::string> trace;
  double seconds = 0;
  // Replay: the verdict on the chosen state (empty: it passed); false if never reached.
  bool replay_reached = false;
};

class CrashExplorer {
 public:
  explicit CrashExplorer(ExploreOptions options);
  ~CrashExplorer();
  ExploreResult run(const harness::Scenario& scenario);
  // How many IOs (crash points) the scenario makes, by a run without exploration.
  static uint64_t count_io(const harness::Scenario& scenario, const ExploreOptions& options);

 private:
  class Session;
  ExploreOptions options_;
};

}  // namespace thinsim::fault
