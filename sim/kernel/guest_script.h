// The translator from oracle cases to the guest's batch script (busybox sh): each case's
// disks become dm-linear slices of one virtio disk (under a log-writes target each, with
// its logs in more slices, in a case that crashes: log_replay.h), each command becomes the
// dmctl (sim/kernel/dmctl.cc) or dd call that does the same in the real kernel, and every
// outcome is
// printed on the console as an ORACLE line that KernelVm parses back:
//
//   ORACLE-B K              case K begins          ORACLE-E K             case K ended
//   ORACLE-S K.I ok         step I succeeded       ORACLE-S K.I err TEXT  it failed (dmctl/dd stderr)
//   ORACLE-S K.I queued     the IO is still held   ORACLE-S K.I line TEXT status/table line
//   ORACLE-S K.I event yes|no                      ORACLE-C K.I POOL TEXT the forced commit's status
//   ORACLE-M K.I NAME MAJOR MINOR                  a device number, for table step I's line
//
// Guest disks: /dev/vda holds every case's disks, /dev/vdb the data the writes write,
// /dev/vdc receives the data the reads read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/kernel/oracle_case.h"

namespace thinsim::kernel {

struct CaseLayout {
  std::map<std::string, uint64_t> disk_offset;  // byte offset of each disk in the disks image
  // A case that crashes (OracleCase::journaled): per disk, a copy of its initial contents
  // (only for a disk with a fill pattern) and one write log per segment, each log_bytes.
  std::map<std::string, uint64_t> initial_offset;
  std::map<std::string, std::vector<uint64_t>> log_offset;
  uint64_t log_bytes = 0;
  std::vector<uint64_t> in_offset;   // per step: where its write's data lies in the input image
  std::vector<uint64_t> out_offset;  // per step: where its read's data lands in the output image
};

struct GuestBatch {
  std::string script;
  std::vector<CaseLayout> layout;  // one per case, in batch order
  uint64_t disks_bytes = 0;
  uint64_t in_bytes = 0;
  uint64_t out_bytes = 0;
};

// Disk slices and image slots start on MiB boundaries.
inline constexpr uint64_t kSliceAlign = 1 << 20;
inline uint64_t align_to_slice(uint64_t v) { return (v + kSliceAlign - 1) / kSliceAlign * kSliceAlign; }

// The dm name a case's device or disk gets in the guest: "s<K>-<name>".
std::string guest_name(size_t case_index, const std::string& name);

// How long an IO may take before the guest reports it as held by the pool, and how long
// `complete` waits for an IO still in flight.
inline constexpr int kIoWaitMs = 1500;
inline constexpr int kCompleteWaitMs = 500;
// How long a resume's forced commit waits for the IO still in flight, which the resume may
// have let go of: a data block's write under TCG takes a few milliseconds.
inline constexpr int kSettleWaitMs = 200;
// The IO a crash cuts short must end this soon after its start. Every commit the kernel
// makes in it comes after that start (the timer expired just before it, so the first
// pass that changes anything commits at once), and the worker's timer fires a second
// (COMMIT_PERIOD) after its last commit: the crash cannot meet a timed commit while
// the gap, measured after the cut with /proc/uptime's 10 ms steps at both ends, stays
// below this.
inline constexpr int kCrashWindowMs = 950;

// `lanes` cases run at once in the guest (each in a background shell of its own).
GuestBatch translate_batch(const std::vector<const OracleCase*>& cases, size_t lanes = 1);

// Writes the three images into dir: disks.img (sparse; disks with a fill pattern are
// filled), in.img (every write's data), out.img (sparse, zero).
void write_guest_images(const GuestBatch& batch, const std::vector<const OracleCase*>& cases,
                        const std::string& dir);

}  // namespace thinsim::kernel
