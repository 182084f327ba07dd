// thinsim run --check-model, the mapped devices as the reference sees them: thin-pool and
// thin tables created, reloaded, swapped in on resume, suspended and removed, each
// followed on the reference pool of its metadata disk, and the pool messages and status
// lines compared with the reference's. Internal to the model check.
#pragma once

#include <cstdint>
#include <string>

#include "harness/model_check_state.h"
#include "harness/model_io_mirror.h"
#include "harness/model_translate.h"
#include "harness/scenario_runner.h"

namespace thinsim::harness::model_check {

class DeviceMirror {
 public:
  DeviceMirror(MirrorState& state, IoMirror& io, uint64_t no_space_timeout_ms)
      : s_(state), io_(io), no_space_timeout_ms_(no_space_timeout_ms) {}

  void on_resize(const ResizeCmd& c, const StepOutcome& out);
  Divergence on_fault(const FaultCmd& c, const StepOutcome& out);
  void on_check(const CheckCmd& c, const StepOutcome& out);
  Divergence on_create(const CreateCmd& c, const StepOutcome& out, DmCore& dm);
  Divergence on_reload(const ReloadCmd& c, const StepOutcome& out);
  void on_suspend(const SuspendCmd& c, const StepOutcome& out);
  Divergence on_resume(const ResumeCmd& c, const StepOutcome& out);
  void on_remove(const RemoveCmd& c, const StepOutcome& out);
  Divergence on_message(const MessageCmd& c, const StepOutcome& out, DmCore& dm);
  Divergence on_status(const StatusCmd& c, const StepOutcome& out);

 private:
  Divergence create_pool(const std::string& name, const TableLine& table, int model_err);
  Divergence open_thin(const std::string& name, const TableLine& table, int model_err,
                       bool reload);
  void suspend_pool(PoolRef& e);

  MirrorState& s_;
  IoMirror& io_;
  uint64_t no_space_timeout_ms_;
};

}  // namespace thinsim::harness::model_check
