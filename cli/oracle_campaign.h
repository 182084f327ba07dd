// One `thinsim oracle` campaign: the cases dealt out to guests round by round, each case
// compared as soon as its guest ends it, the differing ones run once more alone (a
// difference the second run does not repeat came from the kernel's wall-clock timing),
// and the tally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <semaphore>
#include <string>
#include <vector>

#include "peer/peer_tools.h"
#include "sim/kernel/kernel_vm.h"
#include "sim/kernel/oracle_case.h"
#include "sim/kernel/oracle_comparison.h"

namespace thinsim::cli {

struct OracleOptions {
  std::vector<std::string> files;
  uint64_t random = 0;
  uint64_t seed = 1;
  uint64_t first = 0;  // index of the first random case
  size_t batch = 100;
  // Guests at once, and cases at once in each. A case spends much of its time idle,
  // waiting out the commit timer before each discard; cases in lanes of one guest fill
  // that time for less than more guests would (each guest its own boot and qemu). On 2
  // cores 2 guests of 8 lanes were fastest (docs/kernel-oracle.md).
  size_t jobs = 2;
  size_t lanes = 8;
  std::string kernel_cache;
  std::string work_dir;
  bool keep = false;
  bool confirm = true;
  bool verbose = false;
};

// A scenario file or a random case, and what became of it.
struct OracleEntry {
  std::string name;
  std::string replay;
  std::optional<kernel::OracleCase> oc;
  std::string skipped;  // why it cannot run in the guest
  std::optional<kernel::CaseComparison> result;
  std::string kernel_problem;
  std::string first_bundle;  // the first run's, for a case run again
};

struct OracleTally {
  size_t boots = 0, same = 0, differ = 0, identical = 0, compared = 0;
  size_t timing = 0;  // same only on the second run
  double ready_seconds = 0, guest_seconds = 0;
};

class OracleCampaign {
 public:
  OracleCampaign(const OracleOptions& options, std::vector<OracleEntry>& entries, std::string work,
                 const peer::PeerTools& tools, const kernel::KernelVm& vm);

  // Runs every entry that has a case, printing SAME and DIFF lines as they come. Throws
  // kernel::KernelUnavailable when a guest runs no case at all.
  void run();
  const OracleTally& tally() const { return tally_; }

 private:
  struct Boot;

  uint64_t cost(size_t entry) const;
  std::vector<std::vector<size_t>> deal(std::vector<size_t> chosen, size_t jobs, size_t per_boot) const;
  void start(Boot& b, bool confirming);
  void compare(Boot& b, size_t k, const kernel::KernelCaseResult& kc, const std::string& problem);
  void report(const Boot& b, bool confirming, std::vector<size_t>& to_confirm);

  const OracleOptions& o_;
  std::vector<OracleEntry>& entries_;
  const std::string work_;
  const peer::PeerTools& tools_;
  const kernel::KernelVm& vm_;
  // Comparisons, two at a time across guests: the model side and thin_dump are CPU work
  // the guests' idle time can hide.
  std::counting_semaphore<> comparing_{2};
  OracleTally tally_;
};

}  // namespace thinsim::cli
