// A simulated disk whose initial contents are a content pattern (an external origin
// filled with seed:7, say) without materialising them: sectors read from the pattern
// until written, discarded sectors read as zeroes.
#pragma once

#include <memory>
#include <vector>

#include "harness/content_pattern.h"
#include "model/pdata/memory_block_device.h"

namespace thinsim::harness {

class PatternDisk final : public pdata::BlockDevice {
 public:
  PatternDisk(uint64_t nr_sectors, ContentPattern fill);
  uint64_t nr_sectors() const override { return nr_sectors_; }
  void read(uint64_t sector, std::span<std::byte> buf) override;
  void write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags = {}) override;
  void flush() override {}
  void discard(uint64_t sector, uint64_t nr_sectors) override;

 private:
  uint64_t nr_sectors_;
  ContentPattern fill_;
  pdata::MemoryBlockDevice overlay_;
  std::vector<bool> written_;  // per sector: the overlay holds it
};

}  // namespace thinsim::harness
