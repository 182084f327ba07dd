// thinsim run --check-model, IO as the reference sees it: every write, read, discard and
// flush that reaches a thin target is given to the reference, held while dm core would
// hold it, released in dm core's order on resume, and its result (and a read's data)
// compared with the pool's. Internal to the model check.
#pragma once

#include <string>

#include "harness/model_check_state.h"
#include "harness/model_translate.h"
#include "harness/scenario_runner.h"

namespace thinsim::harness::model_check {

class IoMirror {
 public:
  explicit IoMirror(MirrorState& state) : s_(state) {}

  Divergence on_io(const Command& cmd, const StepOutcome& out, DmCore& dm);
  Divergence on_complete(const CompleteCmd& c, const StepOutcome& out);

  // dm core's resume: held IO of every device no longer held is mapped again, in order.
  void release_held();

  // A removed thin device: its held, queued and in-flight IO fails with EIO.
  void fail_outstanding(const std::string& device);

 private:
  bool io_held(const std::string& device);  // DmCore::io_held
  void submit(Io& io);
  // The model's outcome against the reference's; a read's data on the defined sectors.
  Divergence compare_io(Io& io, const StepOutcome& out);

  MirrorState& s_;
};

}  // namespace thinsim::harness::model_check
