// The real kernel's side of the oracle: the pinned Debian kernel (fetched and unpacked by
// setup-kernel.sh, never installed) boots under qemu with TCG software emulation, runs one
// batch script and powers off; KernelVm parses the console back into per-step outcomes
// and leaves the disk images in the batch's directory for the comparison.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/kernel/guest_script.h"

namespace thinsim::kernel {

// The kernel cannot be prepared or booted (a missing package, no network for apt, qemu
// failing): the oracle's "could not run the kernel".
class KernelUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KernelSetup {
  std::string cache_dir;
  std::string vmlinuz;
  std::string initramfs;
  std::string version;  // e.g. 6.1.0-56-cloud-amd64
};

// Runs sim/kernel/setup-kernel.sh for cache_dir (installs what is missing; a few tenths of
// a second when everything is there). The script's output goes to log_file.
KernelSetup prepare_kernel(const std::string& cache_dir, const std::string& log_file);

// The default cache: $THINSIM_KERNEL_CACHE, else build/kernel in the source tree.
std::string default_kernel_cache();

// What the guest printed for one step.
struct KernelStep {
  std::string outcome;               // "ok", "err TEXT", "queued", "line TEXT", "event yes|no"
  std::vector<std::string> commits;  // "POOL TEXT": the forced commits' status lines
  // A table step's: "253:4" -> guest dm name, as listed just after it (numbers are
  // reused once a device is removed, as a crash's replay removes them all).
  std::map<std::string, std::string> device_numbers;
};

struct KernelCaseResult {
  bool begun = false;
  bool ended = false;
  std::vector<std::optional<KernelStep>> steps;  // indexed like OracleCase::run.commands
};

struct KernelBatchResult {
  std::vector<KernelCaseResult> cases;
  bool guest_exited = false;   // the batch script ran to its end
  std::string problem;         // why not, when it did not
  double ready_seconds = 0;    // guest uptime when the batch started (boot + modules)
  double seconds = 0;          // wall clock of the whole qemu run
  std::string console_file;
};

class KernelVm {
 public:
  explicit KernelVm(KernelSetup setup) : setup_(std::move(setup)) {}
  // Called while the guest still runs, once for each case that ended (its devices are
  // gone, so its disks in dir/disks.img and its reads in dir/out.img are final).
  using CaseEnded = std::function<void(size_t case_index, const KernelCaseResult&)>;
  // Writes the images and the initrd into dir, boots, and parses the console.
  KernelBatchResult run(const GuestBatch& batch, const std::vector<const OracleCase*>& cases,
                        const std::string& dir, std::chrono::seconds timeout,
                        const CaseEnded& case_ended = {}) const;
  const KernelSetup& setup() const { return setup_; }

 private:
  KernelSetup setup_;
};

// Parses a console log (exposed for the tests).
KernelBatchResult parse_console(const std::string& console, const std::vector<const OracleCase*>& cases);

// A newc cpio archive holding one executable file (the batch script), with its trailer.
std::string newc_archive(const std::string& name, const std::string& content);

}  // namespace thinsim::kernel
