// A sparse in-memory block device: memory grows with the 4 KiB pages written, not
// with the device size. Unwritten and discarded sectors read as zeroes.
#pragma once

#include <array>
#include <memory>
#include <unordered_map>

#include "model/pdata/block_device.h"

namespace thinsim::pdata {

class MemoryBlockDevice final : public BlockDevice {
 public:
  explicit MemoryBlockDevice(uint64_t nr_sectors);

  uint64_t nr_sectors() const override { return nr_sectors_; }
  void read(uint64_t sector, std::span<std::byte> buf) override;
  void write(uint64_t sector, std::span<const std::byte> buf, WriteFlags flags = {}) override;
  void flush() override {}
  void discard(uint64_t sector, uint64_t nr_sectors) override;

  // Grows (new sectors read as zeroes) or shrinks (what lies beyond the end is dropped).
  void resize(uint64_t nr_sectors);

  size_t nr_pages_held() const { return pages_.size(); }

 private:
  static constexpr size_t kPageSize = 4096;
  static constexpr uint64_t kSectorsPerPage = kPageSize / 512;
  using Page = std::array<std::byte, kPageSize>;

  uint64_t nr_sectors_;
  std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
};

}  // namespace thinsim::pdata
