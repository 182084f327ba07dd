#include "harness/pattern_disk.h"

namespace thinsim::harness {

PatternDisk::PatternDisk(uint64_t nr_sectors, ContentPattern fill)
    : nr_sectors_(nr_sectors), fill_(std::move(fill)), overlay_(nr_sectors) {}

bool PatternDisk::is_written(uint64_t sector) const {
  auto it = written_.find(sector / 8);
  return it != written_.end() && (it->second >> (sector % 8)) & 1;
}

void PatternDisk::mark_written(uint64_t sector, uint64_t nr_sectors) {
  if (fill_.kind() == ContentPattern::Kind::zero) return;  // the overlay alone is exact
  for (uint64_t s = sector; s < sector + nr_sectors; ++s) written_[s / 8] |= uint8_t(1u << (s % 8));
}

void PatternDisk::read(uint64_t sector, std::span<std::byte> buf) {
  pdata::check_io_range("read", sector, buf.size(), nr_sectors_);
  overlay_.read(sector, buf);
  if (fill_.kind() == ContentPattern::Kind::zero) return;
  for (size_t i = 0; i < buf.size() / 512; ++i)
    if (!is_written(sector + i)) fill_.fill((sector + i) * 512, buf.subspan(i * 512, 512));
}

void PatternDisk::write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags) {
  overlay_.write(sector, buf, flags);
  mark_written(sector, buf.size() / 512);
}

void PatternDisk::discard(uint64_t sector, uint64_t nr_sectors) {
  overlay_.discard(sector, nr_sectors);
  mark_written(sector, nr_sectors);
}

void PatternDisk::resize(uint64_t nr_sectors) {
  overlay_.resize(nr_sectors);
  if (nr_sectors < nr_sectors_) {
    // Forget which sectors beyond the new end were written: regrown, they show the fill.
    std::erase_if(written_, [&](const auto& w) { return w.first * 8 >= nr_sectors; });
    if (auto it = written_.find(nr_sectors / 8); it != written_.end())
      it->second &= uint8_t((1u << (nr_sectors % 8)) - 1);
  }
  nr_sectors_ = nr_sectors;
}

}  // namespace thinsim::harness
