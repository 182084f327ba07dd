// A crash-exploration failure on disk: everything needed to look at it and replay it.
//   crash.json     seed, options, the crash point and choices, the oracle's verdict
//   scenario.scn   the scenario replay runs (minimised);  original.scn   the one given
//   trace.txt, io-trace.txt   steps and IO to the cut
//   metadata.img   the recovered metadata device (thin_dump/thin_check read it)
//   data.img       the recovered data device, sparse: unwritten sectors hold the disk's fill
//   expected.xml, recovered.xml   thin_dump of the last durable commit and of the state
//   recovery.scn   for a second crash: the recovery workload it cut
#pragma once

#include <string>

#include "fault/crash/crash_explorer.h"

namespace thinsim::cli {

struct BundleSource {
  std::string scenario_file;
  std::string scenario_text;  // what scenario.scn gets: the scenario replay runs
  const fault::ExploreOptions* options = nullptr;
  // When the operations were minimised: the scenario as given (original.scn) and how far
  // it shrank.
  std::string original_text;
  size_t steps_before = 0, steps_after = 0;
  uint64_t minimise_trials = 0;
  bool minimise_budget_exhausted = false;
};

// Writes the bundle into a new directory `dir` (which must not exist). Throws
// std::runtime_error naming the file that could not be written.
void write_crash_bundle(const std::string& dir, const BundleSource& source, const fault::CrashFailure& f,
                        const std::vector<std::string>& trace);

// What replay needs from a bundle. Throws std::runtime_error naming the bad file/field.
struct LoadedBundle {
  std::string scenario_path;  // the bundle's scenario.scn
  fault::ExploreOptions options;
  fault::CrashChoice choice;
  std::string oracle, message;
  std::vector<std::string> bugs;  // bug-zoo switches the run had on
};
LoadedBundle load_crash_bundle(const std::string& dir);

}  // namespace thinsim::cli
