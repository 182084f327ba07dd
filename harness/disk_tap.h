// Watching the IO that simulated disks receive, from outside the model: the moments a
// check cares about (a metadata commit is the flush that follows a superblock write) are
// visible at the block device, so checks need no hooks inside the pool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/pdata/block_device.h"

namespace thinsim::harness {

class DiskTap {
 public:
  virtual ~DiskTap() = default;
  // Called after the disk has done the operation.
  virtual void written(const std::string& disk, uint64_t sector, uint64_t nr_sectors, bool fua) = 0;
  virtual void flushed(const std::string& disk) = 0;
  virtual void discarded(const std::string&, uint64_t /*sector*/, uint64_t /*nr_sectors*/) {}
};

// A disk that reports every write, flush and discard to the taps it is given (a list the
// owner may grow while the disk is in use).
class TappedDisk final : public pdata::BlockDevice {
 public:
  TappedDisk(std::string name, std::unique_ptr<pdata::BlockDevice> disk,
             const std::vector<DiskTap*>& taps)
      : name_(std::move(name)), disk_(std::move(disk)), taps_(taps) {}

  uint64_t nr_sectors() const override { return disk_->nr_sectors(); }
  void read(uint64_t sector, std::span<std::byte> buf) override { disk_->read(sector, buf); }
  void write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags = {}) override {
    disk_->write(sector, buf, flags);
    for (DiskTap* t : taps_) t->written(name_, sector, buf.size() / 512, flags.fua);
  }
  void flush() override {
    disk_->flush();
    for (DiskTap* t : taps_) t->flushed(name_);
  }
  void discard(uint64_t sector, uint64_t nr_sectors) override {
    disk_->discard(sector, nr_sectors);
    for (DiskTap* t : taps_) t->discarded(name_, sector, nr_sectors);
  }

  pdata::BlockDevice& inner() { return *disk_; }

 private:
  std::string name_;
  std::unique_ptr<pdata::BlockDevice> disk_;
  const std::vector<DiskTap*>& taps_;
};

}  // namespace thinsim::harness
