#include "sim/sim_disk.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "model/pdata/error.h"
#include "sim/sector_hash.h"

namespace thinsim::sim {

const char* media_fault_name(MediaFaultKind k) {
  switch (k) {
    case MediaFaultKind::bit_flip: return "bit-flip";
    case MediaFaultKind::latent_error: return "latent-error";
    case MediaFaultKind::lost_write: return "lost-write";
    case MediaFaultKind::misdirected_write: return "misdirected-write";
  }
  return "?";
}

SimDisk::SimDisk(std::string name, uint32_t disk_id, std::unique_ptr<pdata::BlockDevice> media,
                 DiskContract contract, IoClock& clock)
    : name_(std::move(name)), disk_id_(disk_id), media_(std::move(media)), contract_(contract),
      declared_honours_flush_(contract.honours_flush),
      clock_(clock) {
  if (contract_.atomic_unit != 512 && contract_.atomic_unit != 4096)
    throw std::invalid_argument("atomic unit must be 512 or 4096 bytes");
}

uint64_t SimDisk::durable_sector_hash(uint64_t sector) const {
  auto it = durable_hashes_.find(sector);
  return it == durable_hashes_.end() ? 0 : it->second;
}

void SimDisk::read_visible(uint64_t sector, std::span<std::byte> out) {
  media_->read(sector, out);
  if (cached_.empty()) return;
  for (size_t i = 0; i < out.size() / kSectorBytes; ++i) {
    auto it = cached_.find(sector + i);
    if (it == cached_.end()) continue;
    const PendingWrite& w = pending_[it->second.first];
    std::memcpy(out.data() + i * kSectorBytes, w.data.data() + size_t(it->second.second) * kSectorBytes,
                kSectorBytes);
  }
}

void SimDisk::apply_overlay(uint64_t sector, std::span<std::byte> buf, bool& error) const {
  if (!faults_enabled_ || overlay_.empty()) return;
  for (size_t i = 0; i < buf.size() / kSectorBytes; ++i) {
    auto it = overlay_.find(sector + i);
    if (it == overlay_.end()) continue;
    if (it->second.error) error = true;
    if (it->second.content)
      std::memcpy(buf.data() + i * kSectorBytes, it->second.content->data(), kSectorBytes);
  }
}

void SimDisk::read(uint64_t sector, std::span<std::byte> buf) {
  pdata::check_io_range("read", sector, buf.size(), nr_sectors());
  read_visible(sector, buf);
  bool error = false;
  apply_overlay(sector, buf, error);
  if (error)
    throw pdata::IoError(EIO, name_ + ": media error reading sector " + std::to_string(sector));
}

void SimDisk::read_durable(uint64_t sector, std::span<std::byte> buf, bool with_faults) {
  media_->read(sector, buf);
  if (!with_faults) return;
  bool error = false;  // a latent error is a property of reads, not of the image
  apply_overlay(sector, buf, error);
}

void SimDisk::read_contents(uint64_t sector, std::span<std::byte> buf) {
  pdata::check_io_range("read", sector, buf.size(), nr_sectors());
  read_visible(sector, buf);
  bool error = false;
  apply_overlay(sector, buf, error);
}

void SimDisk::fault_write(uint64_t sector, std::span<const std::byte> buf) {
  const uint64_t n = buf.size() / kSectorBytes;
  if (lose_writes_ || misdirect_writes_) {
    // The write is acknowledged but its data goes nowhere (or elsewhere): the clean data
    // takes it, the overlay keeps what the sectors held before.
    std::vector<std::byte> before(buf.size());
    read_visible(sector, before);
    for (uint64_t i = 0; i < n; ++i) {
      auto& f = overlay_[sector + i];
      if (!f.content)
        f.content.emplace(before.begin() + i * kSectorBytes, before.begin() + (i + 1) * kSectorBytes);
    }
    if (lose_writes_) {
      --lose_writes_;
    } else {
      --misdirect_writes_;
      const int64_t target = int64_t(sector) + misdirect_offset_;
      for (uint64_t i = 0; i < n; ++i) {
        const int64_t t = target + int64_t(i);
        if (t < 0 || uint64_t(t) >= nr_sectors()) continue;
        overlay_[uint64_t(t)].content.emplace(buf.begin() + i * kSectorBytes,
                                              buf.begin() + (i + 1) * kSectorBytes);
      }
    }
    return;
  }
  if (overlay_.empty()) return;
  // A good write repairs what it covers (a drive remaps a latent sector on write).
  for (uint64_t i = 0; i < n; ++i) overlay_.erase(sector + i);
}

void SimDisk::add_pending(PendingWrite w) {
  w.hashes.resize(w.nr_sectors);
  w.live.assign(w.nr_sectors, true);
  for (uint32_t i = 0; i < w.nr_sectors; ++i)
    w.hashes[i] = sector_hash(disk_id_, w.sector + i,
                              std::span(w.data).subspan(size_t(i) * kSectorBytes, kSectorBytes));
  const uint32_t index = uint32_t(pending_.size());
  for (uint32_t i = 0; i < w.nr_sectors; ++i) cached_[w.sector + i] = {index, i};
  pending_bytes_ += w.data.size();
  pending_.push_back(std::move(w));
}

void SimDisk::destage(const PendingWrite& w) {
  uint32_t i = 0;
  while (i < w.nr_sectors) {
    if (!w.live[i] || w.sector + i >= nr_sectors()) {
      ++i;
      continue;
    }
    uint32_t j = i;
    while (j < w.nr_sectors && w.live[j] && w.sector + j < nr_sectors()) ++j;
    media_->write(w.sector + i,
                  std::span(w.data).subspan(size_t(i) * kSectorBytes, size_t(j - i) * kSectorBytes));
    for (uint32_t k = i; k < j; ++k) {
      uint64_t& h = durable_hashes_[w.sector + k];
      durable_hash_ += w.hashes[k] - h;
      h = w.hashes[k];
    }
    i = j;
  }
}

void SimDisk::drop_cache() {
  pending_.clear();
  cached_.clear();
  pending_bytes_ = 0;
}

void SimDisk::destage_all() {
  for (const PendingWrite& w : pending_) destage(w);
  drop_cache();
}

void SimDisk::write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags) {
  pdata::check_io_range("write", sector, buf.size(), nr_sectors());
  ++writes_;
  fault_write(sector, buf);
  PendingWrite w;
  w.seq = clock_.tick();
  w.sector = sector;
  w.nr_sectors = uint32_t(buf.size() / kSectorBytes);
  w.data.assign(buf.begin(), buf.end());
  add_pending(std::move(w));
  IoEvent ev{IoKind::write, pending_.back().seq, sector, buf.size() / kSectorBytes, flags.fua,
             &pending_.back()};
  if (listener_) listener_->in_flight(*this, ev);
  const bool durable_now = !contract_.volatile_cache || (flags.fua && contract_.honours_flush);
  if (durable_now) {
    // This write is durable; older cached copies of its sectors are superseded.
    PendingWrite done = std::move(pending_.back());
    pending_.pop_back();
    pending_bytes_ -= done.data.size();
    destage(done);
    for (uint32_t i = 0; i < done.nr_sectors; ++i) cached_.erase(sector + i);
    for (PendingWrite& p : pending_)
      for (uint32_t i = 0; i < p.nr_sectors; ++i)
        if (p.sector + i >= sector && p.sector + i < sector + done.nr_sectors) p.live[i] = false;
  } else if (pending_bytes_ > kCacheBytes) {
    // A full cache writes back its oldest entries on its own.
    std::vector<PendingWrite> keep;
    uint64_t bytes = pending_bytes_;
    size_t first = 0;
    while (bytes > kCacheBytes / 2 && first < pending_.size()) bytes -= pending_[first++].data.size();
    for (size_t i = 0; i < first; ++i) destage(pending_[i]);
    keep.assign(std::make_move_iterator(pending_.begin() + long(first)),
                std::make_move_iterator(pending_.end()));
    drop_cache();
    for (PendingWrite& p : keep) {
      std::vector<bool> live = p.live;
      add_pending(std::move(p));
      pending_.back().live = std::move(live);
    }
  }
  ev.write = nullptr;
  if (listener_) listener_->completed(*this, ev);
}

void SimDisk::flush() {
  ++flushes_;
  IoEvent ev{IoKind::flush, clock_.tick(), 0, 0, false, nullptr};
  if (listener_) listener_->in_flight(*this, ev);
  if (contract_.honours_flush) destage_all();
  if (listener_) listener_->completed(*this, ev);
}

void SimDisk::discard(uint64_t sector, uint64_t nr_sectors) {
  pdata::check_io_range("discard", sector, nr_sectors * kSectorBytes, this->nr_sectors());
  // Recorded as a write of zeroes (what reads return now); `discard` tells the crash
  // oracles whether anything else may show after a power cut.
  constexpr uint64_t kChunk = 1 << 16;  // sectors per cache entry
  for (uint64_t s = sector; s < sector + nr_sectors; s += kChunk) {
    const uint64_t n = std::min(kChunk, sector + nr_sectors - s);
    PendingWrite w;
    w.seq = clock_.tick();
    w.sector = s;
    w.nr_sectors = uint32_t(n);
    w.discard = true;
    w.data.assign(n * kSectorBytes, std::byte{0});
    fault_write(s, w.data);
    add_pending(std::move(w));
    IoEvent ev{IoKind::discard, pending_.back().seq, s, n, false, &pending_.back()};
    if (listener_) listener_->in_flight(*this, ev);
    if (!contract_.volatile_cache) destage_all();
    ev.write = nullptr;
    if (listener_) listener_->completed(*this, ev);
  }
}

void SimDisk::flip_bit(uint64_t sector, uint32_t bit) {
  if (sector >= nr_sectors() || bit >= kSectorBytes * 8)
    throw std::invalid_argument(name_ + ": bit flip outside the disk");
  auto& f = overlay_[sector];
  if (!f.content) {
    f.content.emplace(kSectorBytes);
    read_visible(sector, *f.content);
  }
  (*f.content)[bit / 8] ^= std::byte(uint8_t(1u << (bit % 8)));
}

void SimDisk::add_latent_error(uint64_t sector) {
  if (sector >= nr_sectors()) throw std::invalid_argument(name_ + ": latent error outside the disk");
  overlay_[sector].error = true;
}

void SimDisk::lose_next_writes(uint32_t count) { lose_writes_ = count; }

void SimDisk::misdirect_next_writes(uint32_t count, int64_t offset_sectors) {
  misdirect_writes_ = count;
  misdirect_offset_ = offset_sectors;
}

void SimDisk::write_overlay_to_media() {
  if (faults_enabled_) {
    std::vector<uint64_t> sectors;
    for (const auto& [sector, f] : overlay_)
      if (f.content) sectors.push_back(sector);
    std::sort(sectors.begin(), sectors.end());  // one deterministic order of writes
    for (uint64_t s : sectors) {
      PendingWrite w;
      w.seq = clock_.tick();
      w.sector = s;
      w.nr_sectors = 1;
      w.data = *overlay_.at(s).content;
      add_pending(std::move(w));
    }
    destage_all();  // the overlay's sectors, and any cached write they now supersede
  }
  clear_faults();
}

void SimDisk::clear_faults() {
  overlay_.clear();
  lose_writes_ = misdirect_writes_ = 0;
  contract_.honours_flush = declared_honours_flush_;
}

}  // namespace thinsim::sim
