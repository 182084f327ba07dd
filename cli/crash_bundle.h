// A crash-exploration failure on disk: everything needed to look at it and replay it.
//   crash.json     seed, options, the crash point and choices, the oracle's verdict
//   scenario.scn   the scenario as run;  trace.txt, io-trace.txt   steps and IO to the cut
//   metadata.img   the recovered metadata device (thin_dump/thin_check read it)
//   data.img       the recovered data device, sparse: unwritten sectors hold the disk's fill
//   expected.xml, recovered.xml   thin_dump of the last durable commit and of the state
#pragma once

#include <string>

#include "fault/crash/crash_explorer.h"

namespace thinsim::cli {

struct BundleSource {
  std::string scenario_file;
  std::string scenario_text;
  const fault::ExploreOptions* options = nullptr;
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
