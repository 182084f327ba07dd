// Runs a parsed scenario against the model through dm core: every command in order,
// each checked against its expectation, and every registered observer (the reference
// model comparison, the peer-tool checks) consulted after each step. The first failure
// stops the run and names the command's location.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/dm_core.h"
#include "harness/scenario_ast.h"

namespace thinsim::harness {

// What one command did, for expectations and observers.
struct StepOutcome {
  DmResult result;                   // err/text of the command (or of the IO when done)
  bool queued = false;               // IO still held by the pool or dm core
  std::optional<std::string> line;   // status / table line
  std::vector<std::byte> data;       // data read
  uint64_t new_events = 0;           // `event`: events since the last check
};

// A check run after every step (one checker per invariant). It returns a description of
// the first divergence, or nothing.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  // Before the command runs (to watch what it does to the disks, say).
  virtual void before_step(const Command&, DmCore&) {}
  virtual std::optional<std::string> after_step(const Command& cmd, const StepOutcome& out,
                                                DmCore& dm) = 0;
  virtual std::optional<std::string> at_end(DmCore&) { return std::nullopt; }
  // Remarks for the trace since the last call (say, a check that stopped following).
  virtual std::vector<std::string> take_notes() { return {}; }
};

struct StepFailure {
  SourceLocation where;
  std::string command;  // the command's text
  std::string message;
};

struct RunResult {
  bool passed() const { return !failure; }
  std::optional<StepFailure> failure;
  size_t steps = 0;
  std::vector<std::string> trace;  // one line per step: location, command, outcome
};

class ScenarioRunner {
 public:
  ScenarioRunner();
  void add_observer(StepObserver& o) { observers_.push_back(&o); }
  void set_no_space_timeout_ms(uint64_t ms) { dm_.set_no_space_timeout_ms(ms); }
  // For generated scenarios: a command without an expectation may fail; only explicit
  // expectations and the observers judge it.
  void set_require_success(bool on) { require_success_ = on; }
  RunResult run(const Scenario& scenario);
  DmCore& dm() { return dm_; }

 private:
  struct TagState {
    CommandKind kind = CommandKind::write;
    bool done = false;
    int err = 0;
    std::vector<std::byte> data;
    uint64_t sector = 0;
  };
  StepOutcome execute(const Command& cmd);
  StepOutcome submit_io(const std::string& name, pool::BioOp op, uint64_t sector, uint64_t nr,
                        bool fua, std::vector<std::byte> data, const std::optional<std::string>& tag,
                        CommandKind kind);
  std::optional<std::string> check_expectation(const Command& cmd, const StepOutcome& out);
  DmResult apply_fault(const FaultCmd& c);
  void crash(const CrashCmd& c);
  void install_sim_disks(const Scenario& scenario);

  sim::IoClock clock_;  // before dm_: its simulated disks use it
  uint32_t sim_disks_ = 0;
  DmCore dm_;
  std::vector<StepObserver*> observers_;
  std::map<std::string, std::shared_ptr<TagState>> tags_;
  std::map<std::string, uint64_t> events_seen_;
  bool require_success_ = true;
};

// Splits a status line into the named fields of expect KEY=VALUE (pool or thin INFO).
std::optional<std::string> status_field(const std::string& line, StatusField field);

}  // namespace thinsim::harness
