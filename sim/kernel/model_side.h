// The model's side of the oracle: an oracle case run through the scenario runner with no
// expectations, recording every step's outcome in the form the guest reports it, plus the
// forced commits (a status of every pool) after the steps that call for one.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "harness/scenario_runner.h"
#include "sim/kernel/oracle_case.h"

namespace thinsim::kernel {

struct ModelStep {
  std::string outcome;               // "ok", "error ERRNO", "queued", "line TEXT", "event yes|no"
  std::vector<std::string> commits;  // "POOL TEXT"
  std::vector<std::byte> data;       // what a read read
};

class ModelSide {
 public:
  explicit ModelSide(const OracleCase& oc);
  const std::vector<ModelStep>& steps() const { return steps_; }
  // A disk's bytes [offset, offset + out.size()) after the run (zeros past its end);
  // false if there is no such disk.
  bool read_disk(const std::string& name, uint64_t offset, std::span<std::byte> out);
  uint64_t disk_bytes(const std::string& name);

 private:
  harness::ScenarioRunner runner_;
  std::vector<ModelStep> steps_;
};

// "EINVAL" for EINVAL, "errno 61" for one the scenario language has no name for.
std::string errno_label(int err);

}  // namespace thinsim::kernel
