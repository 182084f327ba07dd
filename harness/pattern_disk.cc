#include "harness/pattern_disk.h"

namespace thinsim::harness {

PatternDisk::PatternDisk(uint64_t nr_sectors, ContentPattern fill)
    : nr_sectors_(nr_sectors), fill_(std::move(fill)), overlay_(nr_sectors) {
  if (fill_.kind() != ContentPattern::Kind::zero) written_.resize(nr_sectors);
}

void PatternDisk::read(uint64_t sector, std::span<std::byte> buf) {
  pdata::check_io_range("read", sector, buf.size(), nr_sectors_);
  overlay_.read(sector, buf);
  if (written_.empty()) return;
  for (size_t i = 0; i < buf.size() / 512; ++i)
    if (!written_[sector + i]) fill_.fill((sector + i) * 512, buf.subspan(i * 512, 512));
}

void PatternDisk::write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags) {
  overlay_.write(sector, buf, flags);
  for (size_t i = 0; i < buf.size() / 512 && !written_.empty(); ++i) written_[sector + i] = true;
}

void PatternDisk::discard(uint64_t sector, uint64_t nr_sectors) {
  overlay_.discard(sector, nr_sectors);
  for (uint64_t i = 0; i < nr_sectors && !written_.empty(); ++i) written_[sector + i] = true;
}

}  // namespace thinsim::harness
