// thinsim run --check-model: every command the pool model ran is translated to the
// reference model (one RefPool per metadata disk, since the metadata outlives the pool
// object), the command's results are compared, and then the abstract state of every live
// pool: mode, needs_check, transaction id, each active thin device's mappings, the sharing
// between them, used data blocks, and the contents of the blocks touched by IO.
//
// The parts: model_translate (results, arguments, table lines and messages in the
// reference's terms), model_check_state (what the reference side tracks), DeviceMirror and
// IoMirror (each command followed on the reference and its results compared) and
// StateComparison (the abstract state and block contents).
#include "harness/model_check.h"

#include <exception>
#include <map>
#include <string>
#include <vector>

#include "harness/model_check_state.h"
#include "harness/model_device_mirror.h"
#include "harness/model_io_mirror.h"
#include "harness/model_state_comparison.h"
#include "harness/model_translate.h"
#include "model/ref/ref_pool.h"

namespace thinsim::harness {

using model_check::Divergence;

struct ModelCheck::Impl {
  explicit Impl(uint64_t no_space_timeout_ms) : devices(state, io, no_space_timeout_ms) {}

  model_check::MirrorState state;
  model_check::IoMirror io{state};
  model_check::DeviceMirror devices;
  model_check::StateComparison compare{state};

  // Pools (by metadata disk) that ran out of metadata space: that depends on the btree
  // layout, which the reference does not model, so it follows the pool.
  std::map<std::string, bool> out_of_metadata;
  bool stopped = false;  // after a power cut or a media fault

  std::vector<std::string> newly_out_of_metadata(DmCore& dm) {
    std::vector<std::string> entered;
    for (const auto& [device, md] : state.pool_devices) {
      pool::Pool* p = dm.pool_of(device);
      const bool now = p && p->mode() == pool::PoolMode::out_of_metadata_space;
      if (now && !out_of_metadata[md]) entered.push_back(md);
      out_of_metadata[md] = now;
    }
    return entered;
  }

  Divergence step(const Command& cmd, const StepOutcome& out, DmCore& dm) {
    Divergence d = mirror(cmd, out, dm);
    // The step in which the pool ran out of metadata space is not compared: the reference
    // did it all in write mode, while the pool refused what came after the switch. The
    // reference then switches too, and later steps are compared as usual.
    const auto entered = newly_out_of_metadata(dm);
    for (const std::string& md : entered) {
      state.pools.at(md).ref->enter_out_of_metadata_space();
      d.reset();
    }
    if (!d) d = compare.compare_state(dm);
    if (!d && entered.empty()) d = compare.compare_touched(dm);
    return d;
  }

  Divergence mirror(const Command& cmd, const StepOutcome& out, DmCore& dm) {
    Divergence d;
    switch (cmd.kind()) {
      case CommandKind::disk:
        if (auto& c = cmd.as<DiskCmd>(); !out.result.err)
          state.disks[c.name] = {c.size_sectors, c.fill};
        break;
      case CommandKind::resize: devices.on_resize(cmd.as<ResizeCmd>(), out); break;
      case CommandKind::fault: d = devices.on_fault(cmd.as<FaultCmd>(), out); break;
      case CommandKind::check: devices.on_check(cmd.as<CheckCmd>(), out); break;
      case CommandKind::create: d = devices.on_create(cmd.as<CreateCmd>(), out, dm); break;
      case CommandKind::reload: d = devices.on_reload(cmd.as<ReloadCmd>(), out); break;
      case CommandKind::suspend: devices.on_suspend(cmd.as<SuspendCmd>(), out); break;
      case CommandKind::resume: d = devices.on_resume(cmd.as<ResumeCmd>(), out); break;
      case CommandKind::remove: devices.on_remove(cmd.as<RemoveCmd>(), out); break;
      case CommandKind::message: d = devices.on_message(cmd.as<MessageCmd>(), out, dm); break;
      case CommandKind::status: d = devices.on_status(cmd.as<StatusCmd>(), out); break;
      case CommandKind::write:
      case CommandKind::read:
      case CommandKind::discard:
      case CommandKind::flush: d = io.on_io(cmd, out, dm); break;
      case CommandKind::sleep:
        for (auto& [md, e] : state.pools)
          e.ref->advance_time(cmd.as<SleepCmd>().duration.count());
        break;
      case CommandKind::complete: d = io.on_complete(cmd.as<CompleteCmd>(), out); break;
      case CommandKind::table:
      case CommandKind::event:
      case CommandKind::crash: break;
    }
    return d;
  }
};

ModelCheck::ModelCheck(uint64_t no_space_timeout_ms)
    : impl_(std::make_unique<Impl>(no_space_timeout_ms)) {}

ModelCheck::~ModelCheck() = default;

// A power cut or a media fault takes the pool somewhere the reference model does not
// follow (it has no disks): from then on the run is judged by its expectations and the
// other observers alone, and the trace says so.
std::optional<std::string> ModelCheck::after_step(const Command& cmd, const StepOutcome& out,
                                                  DmCore& dm) {
  if (impl_->stopped) return std::nullopt;
  const bool media = cmd.kind() == CommandKind::fault && needs_sim_disk(cmd.as<FaultCmd>().action);
  if ((cmd.kind() == CommandKind::crash || media) && !out.result.err) {
    impl_->stopped = true;
    stopped_at_ = cmd.location;
    notes_.push_back("check-model stops following the run at " + to_string(cmd.location) + " (" +
                     to_text(cmd) + "): the reference model has no " +
                     (media ? "media faults" : "power cuts") + "; expectations still judge every step");
    return std::nullopt;
  }
  try {
    return impl_->step(cmd, out, dm);
  } catch (const std::exception& e) {  // the reference refusing its input, a pool query failing
    return std::string("check-model: ") + e.what();
  }
}

std::vector<std::string> ModelCheck::take_notes() {
  std::vector<std::string> out;
  out.swap(notes_);
  return out;
}

std::optional<std::string> ModelCheck::at_end(DmCore& dm) {
  if (impl_->stopped) return std::nullopt;
  try {
    return impl_->compare.compare_all_contents(dm);
  } catch (const std::exception& e) {
    return std::string("check-model: ") + e.what();
  }
}

const ref::RefPool* ModelCheck::reference(const std::string& metadata_disk) const {
  if (impl_->stopped) return nullptr;  // no longer the run's state
  auto it = impl_->state.pools.find(metadata_disk);
  return it == impl_->state.pools.end() ? nullptr : it->second.ref.get();
}

}  // namespace thinsim::harness
