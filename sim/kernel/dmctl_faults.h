// dmctl's power cut and media fault commands (sim/kernel/dmctl.cc), for the scenarios'
// `crash` and `fault` steps in the guest:
//
//   dmctl fsync DEV                     a FLUSH to the device (the crash's cache cut)
//   dmctl replay CRASHES DISK...        the power cut itself (log_replay.h): CRASHES is
//                                       "none|all|seed:N" per crash so far, comma-separated;
//                                       each DISK is NAME=BASE:INITIAL:LOG0,LOG1,...[:meta]
//                                       with INITIAL a device or "zero" and :meta for a
//                                       pool's metadata disk; the disks in the model's
//                                       order. Rewrites every sector a log touched.
//   dmctl flip DEV SECTOR BIT SAVE      inverts one bit of a sector (the model's bit-flip
//                                       fault) and keeps the flipped sector in SAVE
//   dmctl unflip DEV SECTOR BIT SAVE    the fault's clear: inverts the bit back if the
//                                       sector still holds what SAVE holds (a write since
//                                       has repaired it, as the model's overlay is dropped)
//   dmctl clear-needs-check DEV         what thin_check --clear-needs-check-flag writes
//                                       once its check passes: the superblock without
//                                       NEEDS_CHECK, checksummed again (a superblock whose
//                                       checksum is wrong is left alone)
//
// Each prints what failed on stderr and returns an errno (0 on success).
#pragma once

#include <string>
#include <vector>

namespace thinsim::dmctl {

int fsync_device(const std::vector<std::string>& args);
int replay(const std::vector<std::string>& args);
int flip(const std::vector<std::string>& args, bool undo);
int clear_needs_check(const std::vector<std::string>& args);

}  // namespace thinsim::dmctl
