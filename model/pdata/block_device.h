// A sector-addressed block device: the seam between the model and whatever stores
// its bytes (memory, a file, and later cached, simulated and faulty devices).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace thinsim::pdata {

struct WriteFlags {
  bool fua = false;  // force unit access: durable when the write completes
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual uint64_t nr_sectors() const = 0;
  // Offsets and lengths are in bytes but must be multiples of 512 (whole sectors).
  virtual void read(uint64_t sector, std::span<std::byte> buf) = 0;
  virtual void write(uint64_t sector, std::span<const std::byte> buf, WriteFlags flags = {}) = 0;
  // Makes every completed write durable (REQ_PREFLUSH).
  virtual void flush() = 0;
  // Sectors in the range read back as zeroes afterwards.
  virtual void discard(uint64_t sector, uint64_t nr_sectors) = 0;
};

// Throws std::invalid_argument unless [sector, sector + bytes/512) is a whole-sector
// range inside a device of nr_sectors.
void check_io_range(const char* op, uint64_t sector, size_t bytes, uint64_t nr_sectors);

}  // namespace thinsim::pdata
