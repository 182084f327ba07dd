// The part of device-mapper core a scenario goes through (dm-ioctl, dm-table, dm.c):
// named mapped devices with a live and an inactive table, suspend and resume, messages,
// status, and bios split at the target's boundaries and held while a device is
// suspended. The thin-pool and thin targets themselves are the model's (model/pool).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/content_pattern.h"
#include "fault/io_fault.h"
#include "harness/disk_tap.h"
#include "harness/pattern_disk.h"
#include "harness/scenario_ast.h"
#include "model/pdata/block_device.h"
#include "model/pool/bio.h"
#include "model/pool/pool_registry.h"
#include "model/pool/pool_target.h"
#include "model/pool/thin_target.h"
#include "sim/sim_disk.h"

namespace thinsim::harness {

// The result of a dm operation: err == 0 on success, else a positive errno and the
// kernel's text (ti->error, a DMERR line or dm core's complaint).
struct DmResult {
  int err = 0;
  std::string text;
  static DmResult ok() { return {}; }
  static DmResult error(int e, std::string t) { return {e, std::move(t)}; }
};

class DmCore {
 public:
  DmCore();
  ~DmCore();
  DmCore(const DmCore&) = delete;
  DmCore& operator=(const DmCore&) = delete;

  DmResult add_disk(const std::string& name, uint64_t nr_sectors, const ContentPattern& fill);
  // A disk whose contents something else provides (a crash image, say); it cannot be
  // resized.
  DmResult add_disk_device(const std::string& name, std::unique_ptr<pdata::BlockDevice> device);
  // Grows or shrinks a disk under whatever uses it (lvresize): the pool sees the new size
  // at its next resume, as the kernel does.
  DmResult resize_disk(const std::string& name, uint64_t nr_sectors);
  // IO errors on a disk (nullopt clears them).
  DmResult set_disk_fault(const std::string& name, std::optional<fault::IoFaultRule> rule);
  // The simulated disk under a disk, when its disk model made one (media faults and power
  // cuts need it); ENODEV / EINVAL with the reason otherwise.
  sim::SimDisk* sim_disk(const std::string& name, DmResult& why) const;
  // A power cut: every simulated disk keeps its durable state and the cached writes
  // `survives(disk, index)` picks (whole writes); every mapped device is gone without a
  // suspend, a commit or any other IO; held IO is lost (completes with EIO). Disks that
  // are not simulated are write-through: they lose nothing. Faults stay as they were.
  using Survives = std::function<bool(const std::string& disk, size_t pending_index)>;
  void power_cut(const Survives& survives);
  bool has_disk_model() const { return static_cast<bool>(disk_model_); }
  // thin_check on a disk no table holds (EBUSY otherwise): EUCLEAN with the first problem
  // if it fails; with clear_needs_check, a clean check clears NEEDS_CHECK (thin_check
  // --clear-needs-check-flag). `report` counts what was found.
  DmResult check_disk(const std::string& name, bool clear_needs_check, std::string& report);
  // Disks added from now on get their media (the pattern-filled contents) through this
  // function, which may put a disk model around it (a SimDisk with a volatile cache).
  using DiskModel = std::function<std::unique_ptr<pdata::BlockDevice>(
      const std::string& name, std::unique_ptr<pdata::BlockDevice> media)>;
  void set_disk_model(DiskModel model) { disk_model_ = std::move(model); }
  // Every disk, existing or added later, reports its writes and flushes to the tap.
  void add_disk_tap(DiskTap& tap) { taps_.push_back(&tap); }
  void remove_disk_tap(DiskTap& tap) { std::erase(taps_, &tap); }

  DmResult create(const std::string& name, const TableLine& table);
  DmResult reload(const std::string& name, const TableLine& table);
  DmResult suspend(const std::string& name, bool noflush);
  DmResult resume(const std::string& name);
  DmResult remove(const std::string& name);
  DmResult message(const std::string& name, uint64_t sector, const std::string& text);
  DmResult status(const std::string& name, bool noflush, std::string& line);
  DmResult table(const std::string& name, std::string& line);

  // Submits IO to a mapped device. `done` runs once, when every piece has completed
  // (maybe during this call, maybe much later); an immediate refusal (no such device,
  // beyond its end, discards unsupported) is returned instead.
  using IoDone = std::function<void(int err, std::vector<std::byte>& data)>;
  DmResult submit(const std::string& name, pool::BioOp op, uint64_t sector, uint64_t nr_sectors,
                  bool fua, std::vector<std::byte> data, IoDone done);

  // Reads and writes hold their data in memory, so one command moves at most this much.
  static constexpr uint64_t kMaxIoBytes = 1ull << 30;
  static DmResult check_io_length(pool::BioOp op, uint64_t nr_sectors);

  void advance_time(uint64_t ms);
  uint64_t now_ms() const { return now_ms_; }
  void set_no_space_timeout_ms(uint64_t ms) { no_space_timeout_ms_ = ms; }

  // dm events raised on a device so far.
  uint64_t event_count(const std::string& name) const;

  // Introspection (for the model comparison and the peer checks).
  bool is_disk(const std::string& name) const { return disks_.count(name); }
  bool is_mapped_device(const std::string& name) const { return devices_.count(name); }
  pdata::BlockDevice* disk(const std::string& name) const;
  // The disk below its IO-error faults: what its media holds, readable while a `fault
  // NAME error` rule is on (media faults, a simulated disk's own, still show).
  pdata::BlockDevice* disk_media(const std::string& name) const;
  pool::Pool* pool_of(const std::string& name) const;      // live thin-pool table
  pool::ThinTarget* thin_of(const std::string& name) const;  // live thin table
  std::optional<TableLine> live_table(const std::string& name) const;
  std::vector<std::string> mapped_devices() const;
  std::vector<pool::Pool*> pools() const;
  // Kernel log lines of all pools, in order of appearance, since the last call.
  std::vector<std::string> take_log();

 private:
  struct Table;
  struct Device;
  class DeviceAdapter;

  Device* find(const std::string& name) const;
  static DmResult no_such_device(const std::string& name);
  std::vector<Device*> thins_on(const pool::Pool& pool) const;
  pdata::BlockDevice* resolve(const std::string& name);
  std::unique_ptr<Table> load(Device& dev, const TableLine& line, DmResult& r);
  DmResult do_suspend(Device& dev, bool noflush);
  DmResult do_resume(Device& dev);
  bool in_use(const std::string& name) const;
  // Every table goes, thins before pools (their held IO is the caller's business).
  void drop_tables();
  bool io_held(const Device& dev) const;
  void map_bio(Device& dev, pool::BioPtr bio);
  void release_held(Device& dev);
  int sync_io(const std::string& name, pool::BioOp op, uint64_t sector, uint64_t nr_sectors,
              std::span<std::byte> buf);

  std::vector<DiskTap*> taps_;  // before disks_: the disks refer to it
  std::map<std::string, std::unique_ptr<TappedDisk>> disks_;
  std::map<std::string, PatternDisk*> media_;  // each disk's contents, for resizing
  DiskModel disk_model_;
  std::map<std::string, std::unique_ptr<Device>> devices_;
  pool::PoolRegistry registry_;
  uint64_t now_ms_ = 0;
  uint64_t no_space_timeout_ms_ = pool::kDefaultNoSpaceTimeoutMs;
  std::vector<std::string> log_;
};

}  // namespace thinsim::harness
