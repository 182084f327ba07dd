#include "fault/crash_image.h"

#include <cstring>

namespace thinsim::fault {

void CrashImage::read(uint64_t sector, std::span<std::byte> buf) {
  pdata::check_io_range("read", sector, buf.size(), nr_sectors());
  disk_.read_durable(sector, buf, with_faults_);
  const uint64_t n = buf.size() / 512;
  if (!overlay_.empty())
    for (uint64_t i = 0; i < n; ++i)
      if (auto it = overlay_.find(sector + i); it != overlay_.end())
        std::memcpy(buf.data() + i * 512, it->second.data, 512);
  if (!written_.empty())
    for (auto it = written_.lower_bound(sector); it != written_.end() && it->first < sector + n; ++it)
      std::memcpy(buf.data() + (it->first - sector) * 512, it->second.data(), 512);
}

void CrashImage::write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags) {
  pdata::check_io_range("write", sector, buf.size(), nr_sectors());
  for (uint64_t i = 0; i < buf.size() / 512; ++i)
    std::memcpy(written_[sector + i].data(), buf.data() + i * 512, 512);
}

void CrashImage::discard(uint64_t sector, uint64_t nr_sectors) {
  pdata::check_io_range("discard", sector, nr_sectors * 512, this->nr_sectors());
  for (uint64_t i = 0; i < nr_sectors; ++i) written_[sector + i].fill(std::byte{0});
}

}  // namespace thinsim::fault
