// A fast functional disk model: durable media under a volatile write cache, with the
// contract of disk_contract.h. It records every write since the last FLUSH (the open
// epoch a power cut may keep any part of), honours FUA, and keeps injected media faults
// in an overlay apart from the clean data, so a fault can be switched off to see what
// recovery would have found without it. Listeners see each IO twice: in flight (a crash
// now may keep or lose it) and completed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/pdata/block_device.h"
#include "sim/disk_contract.h"

namespace thinsim::sim {

// Orders IO across all disks of one run: a crash point is a position on this clock.
class IoClock {
 public:
  uint64_t tick() { return next_++; }
  uint64_t now() const { return next_; }

 private:
  uint64_t next_ = 1;
};

// A write (or discard) that completed into the cache and is not yet durable.
struct PendingWrite {
  uint64_t seq = 0;
  uint64_t sector = 0;
  uint32_t nr_sectors = 0;
  bool discard = false;          // data holds zeroes; with undefined semantics, anything
  std::vector<std::byte> data;   // nr_sectors * 512
  std::vector<uint64_t> hashes;  // per sector
  std::vector<bool> live;        // false once a later FUA write made the sector durable
};

enum class IoKind : uint8_t { write, discard, flush };

struct IoEvent {
  IoKind kind = IoKind::write;
  uint64_t seq = 0;
  uint64_t sector = 0;
  uint64_t nr_sectors = 0;
  bool fua = false;
  const PendingWrite* write = nullptr;  // writes and discards
};

class SimDisk;

class SimDiskListener {
 public:
  virtual ~SimDiskListener() = default;
  // The IO reached the disk; nothing it makes durable is durable yet.
  virtual void in_flight(SimDisk& disk, const IoEvent& io) = 0;
  // The IO completed: what it makes durable is durable.
  virtual void completed(SimDisk& disk, const IoEvent& io) = 0;
};

enum class MediaFaultKind : uint8_t { bit_flip, latent_error, lost_write, misdirected_write };

const char* media_fault_name(MediaFaultKind k);

class SimDisk final : public pdata::BlockDevice {
 public:
  // `media` holds the initial contents and becomes the durable state; `disk_id` keys
  // the sector hashes (distinct per disk of a run).
  SimDisk(std::string name, uint32_t disk_id, std::unique_ptr<pdata::BlockDevice> media,
          DiskContract contract, IoClock& clock);

  uint64_t nr_sectors() const override { return media_->nr_sectors(); }
  void read(uint64_t sector, std::span<std::byte> buf) override;
  void write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags = {}) override;
  void flush() override;
  void discard(uint64_t sector, uint64_t nr_sectors) override;

  void set_listener(SimDiskListener* l) { listener_ = l; }
  const std::string& name() const { return name_; }
  uint32_t disk_id() const { return disk_id_; }
  const DiskContract& contract() const { return contract_; }
  pdata::BlockDevice& media() { return *media_; }

  // The crash model: the open epoch, and the durable state under it.
  const std::vector<PendingWrite>& pending() const { return pending_; }
  // Sum of the sector hashes of every sector ever made durable (modulo 2^64).
  uint64_t durable_hash() const { return durable_hash_; }
  // Hash of the durable sector, 0 if it never was written.
  uint64_t durable_sector_hash(uint64_t sector) const;
  // Durable contents with the fault overlay (as a power cut now would leave them), or
  // without it (clean).
  void read_durable(uint64_t sector, std::span<std::byte> buf, bool with_faults = true);
  // What a read returns, latent errors aside: the disk's contents as an image of it
  // shows them.
  void read_contents(uint64_t sector, std::span<std::byte> buf);
  // A power cut: `survives(i)` says whether pending write i persists (whole); the rest
  // are lost. The cache is empty afterwards.
  template <class Fn>
  void power_cut(Fn survives) {
    for (size_t i = 0; i < pending_.size(); ++i)
      if (survives(i)) destage(pending_[i]);
    drop_cache();
  }

  // Media faults, in the overlay. Faults apply to reads of the disk and of its durable
  // state until cleared; switching them off shows the clean data again.
  void flip_bit(uint64_t sector, uint32_t bit);
  void add_latent_error(uint64_t sector);
  void lose_next_writes(uint32_t count);
  void misdirect_next_writes(uint32_t count, int64_t offset_sectors);
  // A cache that starts lying: FLUSH and FUA complete without making anything durable,
  // and the contract says so from now on. clear_faults() restores the declared contract.
  void ignore_flushes() { contract_.honours_flush = false; }
  bool ignoring_flushes() const { return contract_.honours_flush != declared_honours_flush_; }
  void set_faults_enabled(bool on) { faults_enabled_ = on; }
  void clear_faults();
  // Writes the overlay's contents into the media and clears the faults, so that an image
  // of the media holds what reads returned (a guest's disk server, served_disk.h, does
  // this when it stops; the host then reads the disk as the kernel last saw it).
  void write_overlay_to_media();
  bool has_faults() const {
    return !overlay_.empty() || lose_writes_ || misdirect_writes_ || contract_.honours_flush != declared_honours_flush_;
  }

  uint64_t writes() const { return writes_; }
  uint64_t flushes() const { return flushes_; }

  // Cache capacity: beyond it the oldest writes are written back (and become durable).
  static constexpr uint64_t kCacheBytes = 64ull << 20;

 private:
  struct FaultSector {
    bool error = false;
    std::optional<std::vector<std::byte>> content;  // what reads return instead
  };
  void add_pending(PendingWrite w);
  void destage(const PendingWrite& w);
  void destage_all();
  void drop_cache();
  void read_visible(uint64_t sector, std::span<std::byte> out);  // cache over media, clean
  void fault_write(uint64_t sector, std::span<const std::byte> buf);
  void apply_overlay(uint64_t sector, std::span<std::byte> buf, bool& error) const;

  std::string name_;
  uint32_t disk_id_;
  std::unique_ptr<pdata::BlockDevice> media_;
  DiskContract contract_;
  bool declared_honours_flush_;
  IoClock& clock_;
  SimDiskListener* listener_ = nullptr;

  std::vector<PendingWrite> pending_;
  uint64_t pending_bytes_ = 0;
  // Sector -> (pending index, sector within it) of the newest cached copy.
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> cached_;
  std::unordered_map<uint64_t, uint64_t> durable_hashes_;
  uint64_t durable_hash_ = 0;

  std::unordered_map<uint64_t, FaultSector> overlay_;
  bool faults_enabled_ = true;
  uint32_t lose_writes_ = 0;
  uint32_t misdirect_writes_ = 0;
  int64_t misdirect_offset_ = 0;

  uint64_t writes_ = 0;
  uint64_t flushes_ = 0;
};

}  // namespace thinsim::sim
