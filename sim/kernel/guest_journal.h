// The guest's side of a case's power cuts and media faults (log_replay.h,
// docs/kernel-oracle.md "Power cuts and media faults in the guest"): where a journaled
// disk's slices lie, the dmctl commands that make and remove them, a crash's cut, teardown
// and replay, and the fault steps. It returns shell commands; the translator
// (guest_script.cc) runs them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/kernel/guest_script.h"
#include "sim/kernel/oracle_case.h"

namespace thinsim::kernel {

// "0 SECTORS linear /dev/vda START": a slice of the disks image.
std::string slice_table(uint64_t offset, uint64_t bytes);

class GuestJournal {
 public:
  // Places a crashing case's journal slices (a copy of each filled disk's initial
  // contents, a log per disk and segment) in the disks image from `disks_bytes` on.
  static void lay_out(const OracleCase& oc, CaseLayout& lay, uint64_t& disks_bytes);

  GuestJournal(size_t case_index, const OracleCase& oc, const CaseLayout& lay)
      : k_(case_index), oc_(oc), lay_(lay) {}

  // The commands that make DISK (of `sectors`) journaled: its base slice, the copy of its
  // initial contents, the first log and the log-writes target, joined by &&.
  std::string make_disk(const std::string& disk, uint64_t sectors) const;
  // The dm names to remove after DISK itself at the end of the case.
  std::vector<std::string> disk_parts(const std::string& disk) const;
  // A crash: the `dmctl cut` of every disk, then (crash_rest) the teardown of the case's
  // devices, the replay and the next segment's logs, joined by &&.
  std::string cut() const;
  std::string crash_rest();
  // A fault step's commands, joined by && ("" when the step does nothing in the guest).
  std::string fault(const std::string& step_id, const harness::FaultCmd& f);

 private:
  std::string g(const std::string& n) const { return guest_name(k_, n); }
  std::string base_of(const std::string& d) const { return g(d + ".base"); }
  std::string initial_of(const std::string& d) const { return g(d + ".init"); }
  std::string log_of(const std::string& d, size_t j) const { return g(d + ".log" + std::to_string(j)); }
  std::string start_log(const std::string& d, size_t j) const;
  std::vector<std::string> disks_by_name() const;

  size_t k_;
  const OracleCase& oc_;
  const CaseLayout& lay_;
  size_t segment_ = 0;  // crashes so far: the log each disk writes to
  struct Flip {
    uint64_t sector, bit;
    std::string save;
  };
  std::map<std::string, std::vector<Flip>> flips_;  // per disk, since its last clear
  std::map<std::string, bool> lying_;               // per disk: under ignore-flush
};

}  // namespace thinsim::kernel
