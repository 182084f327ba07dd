// A disk that fails the operations an IoFaultRule names, with pdata::IoError (what a
// block device's error looks like to the model), and otherwise passes them through. A
// failed write or discard changes nothing on the disk; a failed flush makes nothing
// durable that was not already.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "fault/io_fault.h"
#include "model/pdata/block_device.h"

namespace thinsim::fault {

class FaultyDisk final : public pdata::BlockDevice {
 public:
  FaultyDisk(std::string name, std::unique_ptr<pdata::BlockDevice> disk)
      : name_(std::move(name)), disk_(std::move(disk)) {}

  // Replaces the rule in force (and its counters); nullopt heals the disk.
  void set_rule(std::optional<IoFaultRule> rule);
  const std::optional<IoFaultRule>& rule() const { return rule_; }
  uint64_t failures() const { return failures_; }  // operations failed so far, all rules

  uint64_t nr_sectors() const override { return disk_->nr_sectors(); }
  void read(uint64_t sector, std::span<std::byte> buf) override;
  void write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags = {}) override;
  void flush() override;
  void discard(uint64_t sector, uint64_t nr_sectors) override;

  pdata::BlockDevice& inner() { return *disk_; }

 private:
  void maybe_fail(IoOp op, uint64_t sector);

  std::string name_;
  std::unique_ptr<pdata::BlockDevice> disk_;
  std::optional<IoFaultRule> rule_;
  uint64_t seen_ = 0;    // matching operations under the current rule
  uint64_t failed_ = 0;  // of those, failed
  uint64_t failures_ = 0;
};

}  // namespace thinsim::fault
