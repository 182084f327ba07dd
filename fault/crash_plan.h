// What one power cut leaves on a set of simulated disks: for each write still in a
// disk's cache, whether it was lost, persisted whole or torn (at the disk's atomic
// unit; inside a sector too when the contract allows), decided through a CrashChooser.
// The plan is an overlay on each disk's durable state; nothing is copied or modified.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "fault/crash_chooser.h"
#include "sim/sim_disk.h"

namespace thinsim::fault {

// A sector as the crash left it: a cached write's copy, or bytes no write ever held
// (wild: a torn sector, or a discarded one that may read as anything).
struct SurvivingSector {
  const std::byte* data = nullptr;
  uint64_t seq = 0;  // the write it came from
  bool wild = false;
};
using SectorOverlay = std::unordered_map<uint64_t, SurvivingSector>;

enum class WriteFate : uint8_t { lost, whole, torn };

struct WriteOutcome {
  uint32_t disk = 0;   // index into the plan's disks
  uint32_t write = 0;  // index into that disk's pending writes
  WriteFate fate = WriteFate::lost;
  std::string tear;    // how it was torn, e.g. "units 0-3 of 8" or "sector 5 garbage"
};

struct TearOptions {
  bool tear_writes = true;  // consider torn writes, not only lost or whole ones
};

class CrashPlan {
 public:
  // Decides the fate of every cached write of `disks` (in disk order, then write order).
  static CrashPlan choose(std::span<sim::SimDisk* const> disks, CrashChooser& chooser,
                          const TearOptions& options);
  // How many distinct decision sequences choose() can make (saturates at 2^63).
  static uint64_t state_count(std::span<sim::SimDisk* const> disks, const TearOptions& options);

  const SectorOverlay& overlay(size_t disk) const { return overlays_[disk]; }
  const std::vector<WriteOutcome>& outcomes() const { return outcomes_; }
  // The durable contents' hash after the crash, per disk (see SimDisk::durable_hash).
  uint64_t image_hash(size_t disk) const { return hashes_[disk]; }
  size_t survivors() const;
  // "meta: 3 of 5 cached writes kept (#2 torn units 0-1 of 8); data: 0 of 2"
  std::string describe(std::span<sim::SimDisk* const> disks) const;

 private:
  void keep(size_t disk, sim::SimDisk& d, const sim::PendingWrite& w, uint32_t first, uint32_t last);
  void keep_wild(size_t disk, sim::SimDisk& d, const sim::PendingWrite& w, uint32_t i, bool garbage);

  std::vector<SectorOverlay> overlays_;
  std::vector<uint64_t> hashes_;
  std::vector<WriteOutcome> outcomes_;
  std::deque<std::vector<std::byte>> owned_;  // torn sectors' bytes (stable addresses)
};

}  // namespace thinsim::fault
