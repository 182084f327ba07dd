// A simulated disk whose initial contents are a content pattern (an external origin
// filled with seed:7, say) without materialising them: sectors read from the pattern
// until written, discarded sectors read as zeroes.
#pragma once

#include <memory>
#include <unordered_map>

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
  // Grows or shrinks the disk (an LV resized under the pool). Sectors beyond the old end
  // hold the fill pattern, as if never written; what lay beyond a new, smaller end is gone.
  void resize(uint64_t nr_sectors);

 private:
  uint64_t nr_sectors_;
  ContentPattern fill_;
  bool is_written(uint64_t sector) const;
  void mark_written(uint64_t sector, uint64_t nr_sectors);

  pdata::MemoryBlockDevice overlay_;
  // Sectors the overlay holds, a bit per sector in each 4 KiB page touched: memory grows
  // with what is written, not with the disk's size.
  std::unordered_map<uint64_t, uint8_t> written_;
};

}  // namespace thinsim::harness
