#include "harness/dm_core.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fault/faulty_disk.h"
#include "harness/pattern_disk.h"
#include "model/check/metadata_checker.h"
#include "model/pdata/error.h"
#include "model/pool/pool_table.h"
#include "model/pool/target_error.h"

namespace thinsim::harness {

using pool::BioOp;
using pool::BioPtr;
using pool::TargetError;

namespace {
// A disk is a PatternDisk (maybe inside a disk model) under a FaultyDisk under a
// TappedDisk (see add_disk).
fault::FaultyDisk& faulty(TappedDisk& d) { return static_cast<fault::FaultyDisk&>(d.inner()); }
}  // namespace

struct DmCore::Table {
  TableLine line;
  std::unique_ptr<pool::PoolTarget> pool;
  std::unique_ptr<pool::ThinTarget> thin;
  std::string pool_name;
  std::optional<std::string> origin_name;
  std::vector<std::string> uses;  // devices the table holds open
};

// A mapped device used as a block device by another table (an external origin that is
// itself a thin volume, say): synchronous IO through dm core.
class DmCore::DeviceAdapter final : public pdata::BlockDevice {
 public:
  DeviceAdapter(DmCore& core, std::string name) : core_(core), name_(std::move(name)) {}
  uint64_t nr_sectors() const override {
    auto t = core_.live_table(name_);
    return t ? t->length : 0;
  }
  void read(uint64_t sector, std::span<std::byte> buf) override {
    check(core_.sync_io(name_, BioOp::read, sector, buf.size() / 512, buf));
  }
  void write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags) override {
    std::vector<std::byte> copy(buf.begin(), buf.end());
    check(core_.sync_io(name_, BioOp::write, sector, buf.size() / 512, copy));
  }
  void flush() override { check(core_.sync_io(name_, BioOp::flush, 0, 0, {})); }
  void discard(uint64_t sector, uint64_t nr) override {
    check(core_.sync_io(name_, BioOp::discard, sector, nr, {}));
  }

 private:
  void check(int err) {
    if (err) throw pdata::IoError(err, "IO to " + name_ + " failed: " + std::strerror(err));
  }
  DmCore& core_;
  std::string name_;
};

struct DmCore::Device {
  std::string name;
  std::unique_ptr<Table> live, inactive;
  bool suspended = false;
  std::deque<BioPtr> held;  // bios waiting for a resume
  std::unique_ptr<DeviceAdapter> adapter;
};

DmCore::DmCore() {
  registry_.set_log_sink([this](const std::string& line) { log_.push_back(line); });
}

DmCore::~DmCore() { drop_tables(); }

void DmCore::drop_tables() {
  // Thins first: they hold their pools.
  for (int pass = 0; pass < 2; ++pass)
    for (auto& [name, dev] : devices_) {
      bool is_thin = (dev->live && dev->live->thin) || (dev->inactive && dev->inactive->thin);
      if ((pass == 0) == is_thin) {
        dev->inactive.reset();
        dev->live.reset();
      }
    }
}

DmResult DmCore::no_such_device(const std::string& name) {
  return DmResult::error(ENXIO, "device " + name + " does not exist");
}

std::vector<DmCore::Device*> DmCore::thins_on(const pool::Pool& pool) const {
  std::vector<Device*> out;
  for (auto& [n, dev] : devices_)
    if (dev->live && dev->live->thin && &dev->live->thin->pool() == &pool) out.push_back(dev.get());
  return out;
}

DmCore::Device* DmCore::find(const std::string& name) const {
  auto it = devices_.find(name);
  return it == devices_.end() ? nullptr : it->second.get();
}

pdata::BlockDevice* DmCore::disk(const std::string& name) const {
  auto it = disks_.find(name);
  return it == disks_.end() ? nullptr : it->second.get();
}

pdata::BlockDevice* DmCore::disk_media(const std::string& name) const {
  auto it = disks_.find(name);
  return it == disks_.end() ? nullptr : &faulty(*it->second).inner();
}

pdata::BlockDevice* DmCore::resolve(const std::string& name) {
  if (auto* d = disk(name)) return d;
  if (auto* dev = find(name)) return dev->adapter.get();
  return nullptr;
}

pool::Pool* DmCore::pool_of(const std::string& name) const {
  auto* dev = find(name);
  return dev && dev->live && dev->live->pool ? &dev->live->pool->pool() : nullptr;
}

pool::ThinTarget* DmCore::thin_of(const std::string& name) const {
  auto* dev = find(name);
  return dev && dev->live ? dev->live->thin.get() : nullptr;
}

std::optional<TableLine> DmCore::live_table(const std::string& name) const {
  auto* dev = find(name);
  if (!dev || !dev->live) return std::nullopt;
  return dev->live->line;
}

std::vector<std::string> DmCore::mapped_devices() const {
  std::vector<std::string> out;
  for (auto& [name, dev] : devices_) out.push_back(name);
  return out;
}

std::vector<pool::Pool*> DmCore::pools() const {
  std::vector<pool::Pool*> out;
  for (auto& p : registry_.all()) out.push_back(p.get());
  return out;
}

std::vector<std::string> DmCore::take_log() {
  std::vector<std::string> out;
  out.swap(log_);
  return out;
}

uint64_t DmCore::event_count(const std::string& name) const {
  auto p = registry_.lookup(name);
  return p ? p->event_count() : 0;
}

DmResult DmCore::add_disk(const std::string& name, uint64_t nr_sectors, const ContentPattern& fill) {
  if (disks_.count(name) || devices_.count(name))
    return DmResult::error(EEXIST, "a device named " + name + " already exists");
  // Taps see what reached the disk: they sit above the injected faults.
  auto pattern = std::make_unique<PatternDisk>(nr_sectors, fill);
  media_[name] = pattern.get();
  std::unique_ptr<pdata::BlockDevice> disk = std::move(pattern);
  if (disk_model_) disk = disk_model_(name, std::move(disk));
  auto faulty = std::make_unique<fault::FaultyDisk>(name, std::move(disk));
  disks_[name] = std::make_unique<TappedDisk>(name, std::move(faulty), taps_);
  return DmResult::ok();
}

DmResult DmCore::add_disk_device(const std::string& name, std::unique_ptr<pdata::BlockDevice> device) {
  if (disks_.count(name) || devices_.count(name))
    return DmResult::error(EEXIST, "a device named " + name + " already exists");
  auto faulty = std::make_unique<fault::FaultyDisk>(name, std::move(device));
  disks_[name] = std::make_unique<TappedDisk>(name, std::move(faulty), taps_);
  return DmResult::ok();
}

DmResult DmCore::resize_disk(const std::string& name, uint64_t nr_sectors) {
  auto it = disks_.find(name);
  if (it == disks_.end()) {
    if (devices_.count(name))
      return DmResult::error(EINVAL, name + " is a mapped device, not a disk: reload it with a new length");
    return DmResult::error(ENODEV, "no disk named " + name);
  }
  auto media = media_.find(name);
  if (media == media_.end()) return DmResult::error(EINVAL, name + " cannot be resized");
  media->second->resize(nr_sectors);
  return DmResult::ok();
}

DmResult DmCore::set_disk_fault(const std::string& name, std::optional<fault::IoFaultRule> rule) {
  auto it = disks_.find(name);
  if (it == disks_.end()) {
    if (devices_.count(name))
      return DmResult::error(EINVAL, name + " is a mapped device, not a disk: faults go on disks");
    return DmResult::error(ENODEV, "no disk named " + name);
  }
  faulty(*it->second).set_rule(std::move(rule));
  return DmResult::ok();
}

sim::SimDisk* DmCore::sim_disk(const std::string& name, DmResult& why) const {
  auto it = disks_.find(name);
  if (it == disks_.end()) {
    why = devices_.count(name) ? DmResult::error(EINVAL, name + " is a mapped device, not a disk: faults go on disks")
                               : DmResult::error(ENODEV, "no disk named " + name);
    return nullptr;
  }
  auto* s = dynamic_cast<sim::SimDisk*>(&faulty(*it->second).inner());
  if (!s) why = DmResult::error(EINVAL, name + " is not a simulated disk (it has no media model)");
  return s;
}

void DmCore::power_cut(const Survives& survives) {
  for (auto& [name, d] : disks_)
    if (auto* s = dynamic_cast<sim::SimDisk*>(&faulty(*d).inner()))
      s->power_cut([&, &n = name](size_t i) { return survives(n, i); });
  // The pool objects die with the host: whatever their teardown tries to write must not
  // reach a disk, so every disk fails all IO while they go (a failed write changes
  // nothing), and what they log about it is not the scenario's.
  std::map<std::string, std::optional<fault::IoFaultRule>> rules;
  for (auto& [name, d] : disks_) {
    rules[name] = faulty(*d).rule();
    faulty(*d).set_rule(fault::IoFaultRule{fault::kAnyOp, 0, std::nullopt, EIO});
  }
  const size_t log_before = log_.size();
  for (auto& [name, dev] : devices_) {
    for (auto& b : dev->held) b->complete(EIO);
    dev->held.clear();
  }
  drop_tables();
  devices_.clear();
  log_.resize(log_before);
  for (auto& [name, d] : disks_) faulty(*d).set_rule(rules[name]);
}

DmResult DmCore::check_disk(const std::string& name, bool clear_needs_check, std::string& report) {
  auto it = disks_.find(name);
  if (it == disks_.end()) return DmResult::error(ENODEV, "no disk named " + name);
  // thin_check opens the device exclusively, which a table holding it prevents.
  if (in_use(name)) return DmResult::error(EBUSY, name + " is in use by a table");
  check::CheckResult r;
  try {
    r = check::check_metadata(*it->second, {});
  } catch (const pdata::PdataError& e) {
    return DmResult::error(EIO, std::string("check: ") + e.what());
  }
  report = std::to_string(r.findings.nr_fatal()) + " fatal, " +
           std::to_string(r.findings.nr_non_fatal()) + " non-fatal problems";
  if (!r.passed(false)) {
    const std::string first = r.findings.list().empty() ? "" : ": " + r.findings.list()[0].to_string();
    return DmResult::error(EUCLEAN, "metadata check failed (" + report + ")" + first);
  }
  if (clear_needs_check && r.superblock && r.superblock->needs_check()) {
    try {
      check::clear_needs_check_flag(*it->second);
    } catch (const pdata::PdataError& e) {
      return DmResult::error(EIO, std::string("cannot clear needs_check: ") + e.what());
    }
    report += "; needs_check cleared";
  }
  return DmResult::ok();
}

// ---------------------------------------------------------------------------------------
// Tables

std::unique_ptr<DmCore::Table> DmCore::load(Device& dev, const TableLine& line, DmResult& r) {
  auto fail = [&](int err, std::string text) -> std::unique_ptr<Table> {
    r = DmResult::error(err, std::move(text));
    return nullptr;
  };
  if (line.start != 0) return fail(EINVAL, dev.name + ": Gap in table");
  if (line.length == 0) return fail(EINVAL, dev.name + ": zero-length target");
  if (line.target != "thin-pool" && line.target != "thin")
    return fail(EINVAL, dev.name + ": " + line.target + ": unknown target type");
  auto t = std::make_unique<Table>();
  t->line = line;
  auto resolver = [this](const std::string& n) { return resolve(n); };
  try {
    if (line.target == "thin-pool") {
      pool::PoolTableArgs args = pool::parse_pool_table(line.args, resolver);
      t->pool = std::make_unique<pool::PoolTarget>(registry_, dev.name, line.length, args, now_ms_);
      t->pool->pool().set_no_space_timeout_ms(no_space_timeout_ms_);
      t->uses = {args.metadata_name, args.data_name};
      // dm_table_complete: the data device must hold the whole target.
      if (args.data_dev->nr_sectors() < line.length)
        return fail(EINVAL, dev.name + ": " + args.data_name + " too small for target: len=" +
                                std::to_string(line.length) +
                                ", dev_size=" + std::to_string(args.data_dev->nr_sectors()));
    } else {
      pool::ThinTableArgs args = pool::parse_thin_table(line.args, resolver);
      if (!find(args.pool_name)) return fail(EINVAL, "Couldn't get pool mapped device");
      auto p = registry_.lookup(args.pool_name);
      if (!p) return fail(EINVAL, "Couldn't find pool object");
      t->thin = std::make_unique<pool::ThinTarget>(p, args.dev_id, args.origin_dev);
      t->pool_name = args.pool_name;
      t->origin_name = args.origin_name;
      t->uses = {args.pool_name};
      if (args.origin_name) t->uses.push_back(*args.origin_name);
    }
  } catch (const TargetError& e) {
    return fail(e.err(), e.what());
  }
  // table_load (dm-ioctl.c) runs the constructors (populate_table) before it looks at the
  // device's type: a constructor's error wins. thin-pool is DM_TARGET_IMMUTABLE, so a pool
  // device cannot take another target; thin and thin-pool are both bio-based, so a thin
  // device may be reloaded with a pool table.
  Table* current = dev.live ? dev.live.get() : dev.inactive.get();
  if (current && current->line.target == "thin-pool" && line.target != "thin-pool")
    return fail(EINVAL, dev.name + ": can't replace immutable target type thin-pool");
  return t;
}

bool DmCore::in_use(const std::string& name) const {
  for (auto& [n, dev] : devices_)
    for (const Table* t : {dev->live.get(), dev->inactive.get()})
      if (t && std::find(t->uses.begin(), t->uses.end(), name) != t->uses.end()) return true;
  return false;
}

DmResult DmCore::create(const std::string& name, const TableLine& table) {
  if (devices_.count(name) || disks_.count(name))
    return DmResult::error(EBUSY, "device " + name + " already exists");
  auto dev = std::make_unique<Device>();
  dev->name = name;
  dev->adapter = std::make_unique<DeviceAdapter>(*this, name);
  Device& d = *dev;
  devices_[name] = std::move(dev);
  DmResult r;
  auto t = load(d, table, r);
  if (!t) {
    devices_.erase(name);  // dmsetup create removes the device again
    return r;
  }
  d.inactive = std::move(t);
  d.suspended = true;  // a new device has no live table yet
  DmResult resumed = do_resume(d);
  // A failed resume is reverted too (libdevmapper's _create_and_load_v4, seen in the
  // guest with dmsetup 1.02.185: the pool whose preresume fails is gone afterwards).
  if (resumed.err) remove(name);
  return resumed;
}

DmResult DmCore::reload(const std::string& name, const TableLine& table) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  DmResult r;
  auto t = load(*dev, table, r);
  if (!t) return r;
  dev->inactive = std::move(t);  // replaces any earlier inactive table
  return DmResult::ok();
}

bool DmCore::io_held(const Device& dev) const {
  if (dev.suspended) return true;
  if (dev.live && dev.live->thin) return dev.live->thin->pool().suspended();
  return false;
}

DmResult DmCore::do_suspend(Device& dev, bool noflush) {
  if (dev.suspended) return DmResult::ok();
  if (!dev.live) {
    dev.suspended = true;
    return DmResult::ok();
  }
  if (dev.live->thin) {
    pool::ThinTarget& tc = *dev.live->thin;
    if (!noflush && tc.nr_queued())
      // The kernel would wait for these bios forever.
      return DmResult::error(EBUSY, "suspend of " + dev.name + " would wait forever for " +
                                        std::to_string(tc.nr_queued()) +
                                        " bio(s) the pool holds; use --noflush");
    for (auto& b : tc.take_all_waiting()) dev.held.push_back(std::move(b));
  } else {
    pool::Pool& pool = dev.live->pool->pool();
    pool.presuspend();
    // pool_suspend_active_thins: noflush-suspend every thin on this pool.
    for (Device* thin : thins_on(pool))
      for (auto& b : thin->live->thin->take_all_waiting()) thin->held.push_back(std::move(b));
    pool.postsuspend();
  }
  dev.suspended = true;
  return DmResult::ok();
}

DmResult DmCore::suspend(const std::string& name, bool noflush) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  return do_suspend(*dev, noflush);
}

DmResult DmCore::do_resume(Device& dev) {
  std::unique_ptr<Table> old;
  if (dev.inactive) {
    if (DmResult r = do_suspend(dev, false); r.err) return r;
    old = std::move(dev.live);
    dev.live = std::move(dev.inactive);
  }
  if (!dev.suspended) return DmResult::ok();
  if (dev.live) {
    try {
      if (dev.live->pool)
        dev.live->pool->preresume();
      else
        dev.live->thin->preresume();
    } catch (const TargetError& e) {
      old.reset();
      return DmResult::error(e.err(), e.what());  // stays suspended
    }
    if (dev.live->pool) dev.live->pool->resume();
  }
  dev.suspended = false;
  old.reset();
  release_held(dev);
  if (dev.live && dev.live->pool) {
    // pool_resume_active_thins
    for (Device* thin : thins_on(dev.live->pool->pool())) release_held(*thin);
  }
  return DmResult::ok();
}

DmResult DmCore::resume(const std::string& name) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  return do_resume(*dev);
}

DmResult DmCore::remove(const std::string& name) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  if (in_use(name)) return DmResult::error(EBUSY, "device " + name + " is in use");
  // __dm_destroy suspends the targets without waiting for held IO.
  if (dev->live && !dev->suspended) {
    if (dev->live->pool) {
      dev->live->pool->presuspend();
      dev->live->pool->postsuspend();
    }
  }
  for (auto& b : dev->held) b->complete(EIO);
  dev->held.clear();
  dev->inactive.reset();
  dev->live.reset();
  devices_.erase(name);
  return DmResult::ok();
}

// ---------------------------------------------------------------------------------------
// Messages and status

DmResult DmCore::message(const std::string& name, uint64_t sector, const std::string& text) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  if (!dev->live) return DmResult::error(EINVAL, "no table");
  auto argv = pool::split_dm_args(text);
  if (argv.empty()) return DmResult::error(EINVAL, "Empty message received.");
  if (sector >= dev->live->line.length)
    return DmResult::error(EINVAL, "Target message sector outside device.");
  if (!dev->live->pool) return DmResult::error(EINVAL, "Target type does not support messages");
  size_t before = log_.size();
  int err = dev->live->pool->message(argv);
  if (!err) return DmResult::ok();
  std::string why = log_.size() > before ? log_.back() : std::strerror(err);
  return DmResult::error(err, why);
}

DmResult DmCore::status(const std::string& name, bool noflush, std::string& line) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  line.clear();
  if (!dev->live) return DmResult::ok();
  line = dev->live->pool ? dev->live->pool->status_info(noflush, dev->suspended)
                         : dev->live->thin->status_info();
  return DmResult::ok();
}

DmResult DmCore::table(const std::string& name, std::string& line) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  line.clear();
  if (!dev->live) return DmResult::ok();
  line = dev->live->pool ? dev->live->pool->status_table()
                         : dev->live->thin->status_table(dev->live->pool_name, dev->live->origin_name);
  return DmResult::ok();
}

// ---------------------------------------------------------------------------------------
// IO

void DmCore::map_bio(Device& dev, BioPtr bio) {
  if (io_held(dev) || !dev.live || !dev.live->thin)
    dev.held.push_back(std::move(bio));
  else
    dev.live->thin->map(std::move(bio));
}

void DmCore::release_held(Device& dev) {
  if (io_held(dev)) return;
  std::deque<BioPtr> held;
  held.swap(dev.held);
  for (auto& b : held) map_bio(dev, std::move(b));
}

DmResult DmCore::submit(const std::string& name, BioOp op, uint64_t sector, uint64_t nr_sectors,
                        bool fua, std::vector<std::byte> data, IoDone done) {
  Device* dev = find(name);
  if (!dev) return no_such_device(name);
  uint64_t len = dev->live ? dev->live->line.length : 0;
  if (op != BioOp::flush && (sector > len || nr_sectors > len - sector))
    return DmResult::error(EIO, "attempt to access beyond end of device " + name);
  if (DmResult r = check_io_length(op, nr_sectors); r.err) return r;
  if (op == BioOp::read) data.assign(nr_sectors * 512, std::byte{0});

  if (dev->live && dev->live->pool) {
    // pool_map: everything goes to the data device.
    pdata::BlockDevice& d = dev->live->pool->pool().data_dev();
    int err = 0;
    try {
      switch (op) {
        case BioOp::read: d.read(sector, data); break;
        case BioOp::write: d.write(sector, data, pdata::WriteFlags{.fua = fua}); break;
        case BioOp::discard: d.discard(sector, nr_sectors); break;
        case BioOp::flush: d.flush(); break;
      }
    } catch (const std::exception&) {
      err = EIO;
    }
    done(err, data);
    return DmResult::ok();
  }
  if (op == BioOp::discard && dev->live && !dev->live->thin->discards_supported())
    return DmResult::error(EOPNOTSUPP, "discards are not supported on " + name);

  // Split as dm core and the block layer do: reads and writes at data-block boundaries
  // (max_io_len), discards into at most 1024 blocks, flushes as one empty bio.
  std::vector<std::pair<uint64_t, uint64_t>> pieces;
  uint64_t spb = dev->live ? dev->live->thin->pool().sectors_per_block() : 128;
  if (op == BioOp::flush) {
    pieces.push_back({0, 0});
  } else {
    uint64_t max = op == BioOp::discard ? spb * 1024 : spb;
    for (uint64_t s = sector, end = sector + nr_sectors; s < end;) {
      uint64_t boundary = (s / spb) * spb + max;
      if (op == BioOp::discard && boundary <= s) boundary = s + max;
      uint64_t e = std::min(end, boundary);
      pieces.push_back({s, e - s});
      s = e;
    }
  }
  struct State {
    size_t remaining;
    int err = 0;
    std::vector<std::byte> data;
    IoDone done;
    uint64_t sector;
  };
  auto st = std::make_shared<State>(State{pieces.size(), 0, std::move(data), std::move(done), sector});
  // The pool's worker runs once all pieces are mapped (see Pool::plug_worker).
  // Only writes: a split read of unprovisioned blocks behind queued IO is still mapped
  // piece by piece (plugging it parted from the kernel in bugzoo/discard-out-of-data-space.scn).
  std::optional<pool::Pool::WorkerPlug> plug;
  if (op == BioOp::write && dev->live && dev->live->thin) plug.emplace(dev->live->thin->pool());
  for (auto [s, n] : pieces) {
    auto bio = std::make_unique<pool::Bio>();
    bio->op = op;
    bio->sector = s;
    bio->nr_sectors = n;
    bio->fua = fua && op == BioOp::write;
    if (op == BioOp::write || op == BioOp::read) {
      auto first = st->data.begin() + (s - sector) * 512;
      bio->data.assign(first, first + n * 512);
    }
    bio->end_io = [st](pool::Bio& b, int err) {
      if (b.op == BioOp::read && !err)
        std::copy(b.data.begin(), b.data.end(), st->data.begin() + (b.sector - st->sector) * 512);
      if (err && !st->err) st->err = err;
      if (--st->remaining == 0) st->done(st->err, st->data);
    };
    map_bio(*dev, std::move(bio));
  }
  if (plug) plug->release();
  return DmResult::ok();
}

int DmCore::sync_io(const std::string& name, BioOp op, uint64_t sector, uint64_t nr_sectors,
                    std::span<std::byte> buf) {
  bool finished = false;
  int result = 0;
  std::vector<std::byte> data(buf.begin(), buf.end());
  DmResult r = submit(name, op, sector, nr_sectors, false, std::move(data),
                      [&](int err, std::vector<std::byte>& out) {
                        finished = true;
                        result = err;
                        if (op == BioOp::read) std::copy(out.begin(), out.end(), buf.begin());
                      });
  if (r.err) return r.err;
  return finished ? result : EIO;  // IO that would wait is an error for a stacked device
}

DmResult DmCore::check_io_length(BioOp op, uint64_t nr_sectors) {
  // Reads and writes carry their data in memory; discards carry none.
  if ((op == BioOp::read || op == BioOp::write) && nr_sectors > kMaxIoBytes / 512)
    return DmResult::error(EINVAL, "IO of " + std::to_string(nr_sectors) +
                                       " sectors is larger than the harness's limit of " +
                                       std::to_string(kMaxIoBytes / 512) + " sectors per command");
  return DmResult::ok();
}

void DmCore::advance_time(uint64_t ms) {
  now_ms_ += ms;
  for (auto& p : registry_.all()) p->advance_time(now_ms_);
}

}  // namespace thinsim::harness
