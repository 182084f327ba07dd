// A disk as a power cut left it: the simulated disk's durable state (with its media
// faults, or clean) under a CrashPlan's overlay. Recovery may write to it; those writes
// stay in the image, so the disk itself is never touched.
#pragma once

#include <array>
#include <map>

#include "fault/crash_plan.h"
#include "model/pdata/block_device.h"
#include "sim/sim_disk.h"

namespace thinsim::fault {

class CrashImage final : public pdata::BlockDevice {
 public:
  CrashImage(sim::SimDisk& disk, const SectorOverlay& overlay, bool with_faults = true)
      : disk_(disk), overlay_(overlay), with_faults_(with_faults) {}

  uint64_t nr_sectors() const override { return disk_.nr_sectors(); }
  void read(uint64_t sector, std::span<std::byte> buf) override;
  void write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags = {}) override;
  void flush() override {}
  void discard(uint64_t sector, uint64_t nr_sectors) override;

  // The sector's origin after the crash: the overlay entry, or null (durable state).
  const SurvivingSector* survivor(uint64_t sector) const {
    auto it = overlay_.find(sector);
    return it == overlay_.end() ? nullptr : &it->second;
  }
  bool written_by_recovery() const { return !written_.empty(); }

 private:
  sim::SimDisk& disk_;
  const SectorOverlay& overlay_;
  bool with_faults_;
  std::map<uint64_t, std::array<std::byte, 512>> written_;
};

}  // namespace thinsim::fault
