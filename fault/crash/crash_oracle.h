// The oracles that judge a recovered crash state, one invariant each. They read the
// state with thinsim's checker and dumper and compare it with what the run's IO showed
// (commit records, data versions); none of them trusts the pool code under test, except
// the structure oracle's last question: does the model itself open what the checker
// passed, as the kernel would?
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fault/crash/commit_history.h"
#include "fault/crash/data_history.h"
#include "fault/crash/metadata_view.h"
#include "fault/crash_image.h"
#include "harness/scenario_ast.h"

namespace thinsim::fault {

// One recovered state and what the run knew when the power was cut.
struct CrashContext {
  CrashImage& meta;
  CrashImage* data;  // null until the pool has a data device
  sim::SimDisk& meta_disk;
  sim::SimDisk* data_disk;
  const MetadataView& view;  // of `meta`
  const CommitHistory& commits;
  const DataHistory& data_history;
  std::optional<harness::TableLine> pool_table;  // the pool's table line, if known
  const CommitRecord* recovered = nullptr;  // the commit the state matched (refinement)
  bool refused = false;  // the pool would not open, as the kernel would not (structure)
  // The data device had faults in this run: a copy that failed to read leaves its new
  // block allocated and unmapped, as the kernel does, so leaks alone are no failure.
  bool data_leaks_allowed = false;
};

class CrashOracle {
 public:
  virtual ~CrashOracle() = default;
  virtual const char* name() const = 0;
  // A description of the violation, or nothing.
  virtual std::optional<std::string> judge(CrashContext& ctx) = 0;
};

// 1. `check` passes, and the model opens the metadata (or it is unformatted, and the
// kernel would format it).
std::unique_ptr<CrashOracle> make_structure_oracle();
// 2. The recovered metadata is exactly the last durable commit or one in flight: never a
// mix. Sets ctx.recovered.
std::unique_ptr<CrashOracle> make_refinement_oracle();
// 4. Every block the recovered commit maps holds data that was durable for it: what it
// held when the commit was written, or a later write; no older data, no garbage.
std::unique_ptr<CrashOracle> make_durability_oracle();
// 5. Metadata with needs_check set is opened read-only: write mode is refused until the
// flag is cleared.
std::unique_ptr<CrashOracle> make_needs_check_oracle();

// All of them, in the order they are consulted.
std::vector<std::unique_ptr<CrashOracle>> make_crash_oracles();

}  // namespace thinsim::fault
