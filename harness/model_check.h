// thinsim run --check-model: drives the reference model (model/ref) with the same
// commands as the pool and compares them after every step: message and IO results,
// data read, status fields, and the whole abstract state (mode, needs_check, transaction
// id, used data blocks, each active thin device's mappings, the sharing between them and
// the contents of the blocks a step touched). The first divergence is reported.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/scenario_runner.h"

namespace thinsim::ref {
class RefPool;
}

namespace thinsim::harness {

class ModelCheck final : public StepObserver {
 public:
  explicit ModelCheck(uint64_t no_space_timeout_ms);
  ~ModelCheck() override;
  std::optional<std::string> after_step(const Command& cmd, const StepOutcome& out,
                                        DmCore& dm) override;
  std::optional<std::string> at_end(DmCore& dm) override;
  std::vector<std::string> take_notes() override;

  // Where it stopped following the run (a power cut or a media fault), if it did.
  const std::optional<SourceLocation>& stopped_at() const { return stopped_at_; }

  // The reference model of the pool on a metadata disk, or nullptr if none is kept (or
  // it stopped following).
  const ref::RefPool* reference(const std::string& metadata_disk) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> notes_;
  std::optional<SourceLocation> stopped_at_;
};

}  // namespace thinsim::harness
