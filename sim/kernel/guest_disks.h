// A case's disks in the guest: the slices of the disks image they are, their tables (a
// linear slice; dm-flakey while an IO-error fault is on; log-writes over the slice in a
// case that crashes, log_replay.h; a linear over the nbd device of a served disk,
// served_disk.h), and the dmctl commands that make, resize and remove them, cut and
// replay them at a crash and inject their faults (docs/kernel-oracle.md, "Power cuts and
// media faults in the guest"). The translator (guest_script.cc) runs the
// commands it returns, in order, each only if the one before succeeded.
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

class GuestDisks {
 public:
  // Places a crashing case's journal slices (a copy of each filled disk's initial
  // contents, a log per disk and segment) in the disks image from `disks_bytes` on.
  static void lay_out(const OracleCase& oc, CaseLayout& lay, uint64_t& disks_bytes);

  GuestDisks(size_t case_index, const OracleCase& oc, const CaseLayout& lay)
      : k_(case_index), oc_(oc), lay_(lay) {}

  using Commands = std::vector<std::string>;

  Commands make_disk(const std::string& disk, uint64_t sectors);
  Commands resize(const std::string& disk, uint64_t sectors);
  // The end of the case: DISK and what is under it, each command a `try` (run even if
  // one before failed).
  Commands remove_disk(const std::string& disk) const;
  // A crash: the `dmctl cut` of every disk, then (crash_rest) the teardown of the case's
  // devices, the replay and the next segment's logs.
  std::string cut() const;
  Commands crash_rest();
  // A fault step (none when it does nothing in the guest).
  Commands fault(const std::string& step_id, const harness::FaultCmd& f);

 private:
  std::string g(const std::string& n) const { return guest_name(k_, n); }
  std::string base_of(const std::string& d) const { return g(d + ".base"); }
  std::string initial_of(const std::string& d) const { return g(d + ".init"); }
  std::string media_of(const std::string& d) const { return g(d + ".media"); }  // a served disk's slice
  bool served(const std::string& d) const { return oc_.disk(d)->served; }
  Commands served_fault(const harness::FaultCmd& f);
  std::string log_of(const std::string& d, size_t j) const { return g(d + ".log" + std::to_string(j)); }
  Commands start_log(const std::string& d, size_t j) const;
  std::string table(const std::string& d) const;  // what DISK's own device maps now
  Commands reload(const std::string& d) const;
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
  std::map<std::string, uint64_t> sectors_;         // per disk: its size now
  std::map<std::string, std::string> failing_;      // per disk under `error`: flakey's features
};

}  // namespace thinsim::kernel
