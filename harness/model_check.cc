// thinsim run --check-model: every command the pool model ran is translated to the
// reference model (one RefPool per metadata disk, since the metadata outlives the pool
// object), the command's results are compared, and then the abstract state of every live
// pool: mode, needs_check, transaction id, each active thin device's mappings, the sharing
// between them, used data blocks, and the contents of the blocks touched by IO.
#include "harness/model_check.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <exception>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include "model/pool/pool.h"
#include "model/pool/thin_target.h"
#include "model/ref/ref_pool.h"

namespace thinsim::harness {

namespace {

using Divergence = std::optional<std::string>;

std::string errno_word(int err) {
  std::string_view n = errno_name(err);
  return n.empty() ? "errno " + std::to_string(err) : std::string(n);
}

std::string result_word(bool queued, int err) {
  if (queued) return "queued";
  return err ? "error " + errno_word(err) : "ok";
}

// "reference model: WHAT: model says X, reference says Y", or nothing when they agree.
Divergence disagree(const std::string& what, bool model_queued, int model_err, bool ref_queued,
                    int ref_err) {
  if (model_queued == ref_queued && (model_queued || model_err == ref_err)) return std::nullopt;
  return "reference model: " + what + ": model says " + result_word(model_queued, model_err) +
         ", reference says " + result_word(ref_queued, ref_err);
}

Divergence disagree(const std::string& what, int model_err, int ref_err) {
  return disagree(what, false, model_err, false, ref_err);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> words(const std::string& text) {  // dm_split_args on blanks
  std::istringstream in(text);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

// kstrtoull(s, 10): optional '+', decimal digits, no overflow.
std::optional<uint64_t> decimal(const std::string& s) {
  size_t i = !s.empty() && s[0] == '+' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string hex(std::byte b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(b));
  return buf;
}

const char* mode_name(int mode) {  // pool::PoolMode and ref::Mode share the kernel's order
  static const char* const names[] = {"write", "out_of_data_space", "out_of_metadata_space",
                                      "read_only", "fail"};
  return names[mode];
}

// "thin-pool META DATA BLOCK_SIZE LOW_WATER [N FEATURES...]" as the reference's parameters.
std::optional<ref::PoolParams> pool_params(const TableLine& t, uint64_t no_space_timeout_ms) {
  const auto& a = t.args;
  if (a.size() < 4) return std::nullopt;
  auto bs = decimal(a[2]), lw = decimal(a[3]);
  if (!bs || !*bs || *bs > std::numeric_limits<uint32_t>::max() || !lw) return std::nullopt;
  ref::PoolParams p;
  p.block_sectors = static_cast<uint32_t>(*bs);
  p.data_blocks = t.length / *bs;
  p.low_water_mark = *lw;
  p.no_space_timeout_ms = no_space_timeout_ms;
  p.sharing = ref::SharingRule::kernel_time;  // the pool model uses the kernel's time test
  for (size_t i = 5; i < a.size(); ++i) {
    std::string f = lower(a[i]);
    if (f == "skip_block_zeroing") p.skip_block_zeroing = true;
    else if (f == "ignore_discard") p.ignore_discard = true;
    else if (f == "no_discard_passdown") p.no_discard_passdown = true;
    else if (f == "read_only") p.read_only = true;
    else if (f == "error_if_no_space") p.error_if_no_space = true;
    else return std::nullopt;
  }
  return p;
}

// pool_message on the reference: the mode check first, then the arguments.
int ref_message(ref::RefPool& r, const std::vector<std::string>& argv) {
  if (r.mode() >= ref::Mode::out_of_metadata_space) return EOPNOTSUPP;
  const std::string m = lower(argv[0]);
  std::vector<uint64_t> n;
  auto args = [&](size_t count) {  // exactly count words, all numbers after the first
    if (argv.size() != count) return false;
    for (size_t i = 1; i < count; ++i) {
      auto v = decimal(argv[i]);
      if (!v) return false;
      n.push_back(*v);
    }
    return true;
  };
  if (m == "create_thin") return args(2) ? r.create_thin(n[0]) : EINVAL;
  if (m == "create_snap") return args(3) ? r.create_snap(n[0], n[1]) : EINVAL;
  if (m == "delete") return args(2) ? r.delete_thin(n[0]) : EINVAL;
  if (m == "set_transaction_id") return args(3) ? r.set_transaction_id(n[0], n[1]) : EINVAL;
  if (m == "reserve_metadata_snap") return args(1) ? r.reserve_metadata_snap() : EINVAL;
  if (m == "release_metadata_snap") return args(1) ? r.release_metadata_snap() : EINVAL;
  return EINVAL;
}

// The first byte, within the sectors the reference defines, where the pool's data differs.
std::optional<size_t> first_difference(std::span<const std::byte> pool, const ref::ReadResult& r) {
  for (size_t s = 0; s < r.defined.size(); ++s)
    for (size_t i = s * ref::kSectorBytes; r.defined[s] && i < (s + 1) * ref::kSectorBytes; ++i)
      if (pool[i] != r.data[i]) return i;
  return std::nullopt;
}

}  // namespace

struct ModelCheck::Impl {
  struct Disk {
    uint64_t sectors;
    ContentPattern fill;
  };
  struct PoolRef {  // one per metadata disk
    std::unique_ptr<ref::RefPool> ref;
    ref::PoolParams table;                   // the live table
    std::optional<ref::PoolParams> inactive;  // loaded, waiting for a resume
    bool bind_table = false;                 // the live table has not been resumed yet
    bool suspended = false;
  };
  struct ThinTable {
    std::string md;  // the pool's metadata disk
    uint32_t dev = 0;
  };
  struct Thin {
    std::optional<ThinTable> live, inactive;
    bool suspended = false;
  };
  // One IO command as the reference sees it.
  struct Io {
    enum class State { unmodelled, held, pending, done };
    CommandKind kind = CommandKind::write;
    std::string device;
    uint64_t sector = 0, nr = 0;
    bool fua = false;
    std::vector<std::byte> data;  // a write's payload
    ThinTable target;
    State state = State::unmodelled;
    ref::IoHandle handle = 0;
    int err = 0;
    ref::ReadResult read;
  };
  using IoPtr = std::shared_ptr<Io>;

  uint64_t no_space_timeout_ms;
  std::map<std::string, Disk> disks;
  std::map<std::string, PoolRef> pools;             // by metadata disk
  std::map<std::string, std::string> pool_devices;  // pool mapped device -> metadata disk
  std::map<std::string, Thin> thins;                // thin mapped devices
  std::map<std::string, std::deque<IoPtr>> held;    // IO dm core holds, by device
  std::map<std::string, IoPtr> tags;
  std::vector<IoPtr> inflight;  // writes and discards whose blocks are compared each step

  ref::RefPool& ref_of(const ThinTable& t) { return *pools.at(t.md).ref; }
  uint32_t block_sectors(const ThinTable& t) { return pools.at(t.md).table.block_sectors; }

  // ---- Commands

  Divergence on_create(const CreateCmd& c, const StepOutcome& out, DmCore& dm) {
    const bool known = pool_devices.count(c.name) || thins.count(c.name);
    // A refused table leaves no device; a failed resume leaves the device suspended.
    const bool loaded = !out.result.err || (!known && dm.is_mapped_device(c.name));
    if (c.table.target == "thin-pool" && loaded)
      return create_pool(c.name, c.table, out.result.err);
    if (c.table.target == "thin" && (!out.result.err || out.result.err == ENODATA))
      return open_thin(c.name, c.table, out.result.err, false);
    return std::nullopt;
  }

  Divergence create_pool(const std::string& name, const TableLine& table, int model_err) {
    auto params = pool_params(table, no_space_timeout_ms);
    if (!params) return "check-model: cannot read the pool table of " + name;
    const std::string& md = table.args[0];
    auto it = pools.find(md);
    int r = 0;
    if (it == pools.end())
      pools[md].ref = std::make_unique<ref::RefPool>(*params), it = pools.find(md);
    else  // the same metadata again: what it persisted comes back (pool_create reopens it)
      r = it->second.ref->reopen(*params);
    PoolRef& e = it->second;
    e.table = *params;
    e.inactive.reset();
    e.bind_table = e.suspended = r != 0;
    pool_devices[name] = md;
    return disagree("create " + name, model_err, r);
  }

  Divergence open_thin(const std::string& name, const TableLine& table, int model_err,
                       bool reload) {
    const auto& a = table.args;
    auto pd = pool_devices.find(a.size() > 1 ? a[0] : "");
    auto dev = a.size() > 1 ? decimal(a[1]) : std::nullopt;
    if (pd == pool_devices.end() || !dev)
      return "check-model: cannot follow the thin table of " + name;
    std::optional<ref::ExternalOrigin> origin;
    if (a.size() > 2) {
      // The reference reads the pattern the disk was filled with, not the disk itself.
      auto d = disks.find(a[2]);
      if (d == disks.end())
        return "check-model: the external origin " + a[2] + " of " + name +
               " is not a disk; the reference model only follows disks";
      origin = ref::ExternalOrigin{d->second.sectors,
                                   [fill = d->second.fill](uint64_t s, std::span<std::byte> out) {
                                     fill.fill(s * ref::kSectorBytes, out);
                                   }};
    }
    ThinTable t{pd->second, static_cast<uint32_t>(*dev)};
    int r = ref_of(t).open(*dev, std::move(origin));
    if (r != model_err && !r) ref_of(t).close(t.dev);
    if (r || r != model_err)
      return disagree("activating thin device " + a[1] + " (" + name + ")", model_err, r);
    Thin& th = thins[name];
    std::optional<ThinTable>& slot = reload ? th.inactive : th.live;
    if (slot) ref_of(*slot).close(slot->dev);  // a replaced inactive table is destroyed
    slot = t;
    return std::nullopt;
  }

  Divergence on_reload(const ReloadCmd& c, const StepOutcome& out) {
    if (out.result.err) return std::nullopt;
    if (auto pd = pool_devices.find(c.name); pd != pool_devices.end()) {
      auto params = pool_params(c.table, no_space_timeout_ms);
      if (!params) return "check-model: cannot read the pool table of " + c.name;
      // __pool_find reuses the pool whatever block size the table names; the pool's counts.
      params->block_sectors = pools.at(pd->second).table.block_sectors;
      params->data_blocks = c.table.length / params->block_sectors;
      pools.at(pd->second).inactive = params;
      return std::nullopt;
    }
    if (thins.count(c.name)) return open_thin(c.name, c.table, 0, true);
    return std::nullopt;
  }

  void suspend_pool(PoolRef& e) {
    if (e.suspended) return;
    e.ref->suspend();
    e.suspended = true;
  }

  void on_suspend(const SuspendCmd& c, const StepOutcome& out) {
    if (out.result.err) return;
    if (auto pd = pool_devices.find(c.name); pd != pool_devices.end())
      suspend_pool(pools.at(pd->second));
    else if (auto t = thins.find(c.name); t != thins.end() && !t->second.suspended) {
      // dm core now holds the device's IO, and takes back what the pool was holding.
      t->second.suspended = true;
      ref_of(*t->second.live).take_device_io(t->second.live->dev);
    }
  }

  Divergence on_resume(const ResumeCmd& c, const StepOutcome& out) {
    if (auto pd = pool_devices.find(c.name); pd != pool_devices.end()) {
      PoolRef& e = pools.at(pd->second);
      if (e.inactive) {  // dm core suspends, swaps the tables, then resumes
        suspend_pool(e);
        e.table = *e.inactive;
        e.inactive.reset();
        e.bind_table = true;
      }
      if (!e.suspended) return std::nullopt;
      int r = 0;
      if (e.bind_table)
        r = e.ref->reload(e.table);
      else
        e.ref->resume();
      if (!r) e.bind_table = e.suspended = false;
      if (r != out.result.err) return disagree("resume " + c.name, out.result.err, r);
    } else if (auto t = thins.find(c.name); t != thins.end() && !out.result.err) {
      Thin& th = t->second;
      if (th.inactive) {
        ref_of(*th.live).close(th.live->dev);
        th.live = std::exchange(th.inactive, std::nullopt);
      }
      th.suspended = false;
    }
    release_held();
    return std::nullopt;
  }

  void on_remove(const RemoveCmd& c, const StepOutcome& out) {
    if (out.result.err) return;
    if (auto pd = pool_devices.find(c.name); pd != pool_devices.end()) {
      PoolRef& e = pools.at(pd->second);
      suspend_pool(e);  // __dm_destroy suspends; the RefPool stays for the metadata
      e.inactive.reset();
      pool_devices.erase(pd);
    } else if (auto t = thins.find(c.name); t != thins.end()) {
      // Whatever IO of the device is still outstanding fails (DmCore::remove, thin_dtr).
      ref_of(*t->second.live).take_device_io(t->second.live->dev);
      for (auto* slot : {&t->second.live, &t->second.inactive})
        if (*slot) ref_of(**slot).close((*slot)->dev);
      auto fail = [&](const IoPtr& io) {
        if (io->device != c.name) return;
        refresh(*io);
        if (io->state == Io::State::held || io->state == Io::State::pending)
          io->state = Io::State::done, io->err = EIO;
      };
      for (auto& [tag, io] : tags) fail(io);
      for (IoPtr& io : inflight) fail(io);
      held.erase(c.name);
      thins.erase(t);
    }
  }

  Divergence on_message(const MessageCmd& c, const StepOutcome& out, DmCore& dm) {
    auto pd = pool_devices.find(c.name);
    auto argv = words(c.text);
    auto table = dm.live_table(c.name);
    // dm core's own refusals (no device, empty, sector beyond the end) never reach the pool.
    if (pd == pool_devices.end() || argv.empty() || !table || c.sector >= table->length)
      return std::nullopt;
    int r = ref_message(*pools.at(pd->second).ref, argv);
    return disagree("message \"" + c.text + "\" to " + c.name, out.result.err, r);
  }

  Divergence on_status(const StatusCmd& c, const StepOutcome& out) {
    if (out.result.err || !out.line) return std::nullopt;
    const std::vector<std::string> w = words(*out.line);
    const bool model_fail = w.size() == 1 && w[0] == "Fail";
    auto field = [&](StatusField f, const std::string& want, bool number = false) -> Divergence {
      auto v = status_field(*out.line, f);
      if (v && (*v == want || (number && decimal(*v)))) return std::nullopt;
      return "reference model: status " + c.name + ": " + std::string(status_field_name(f)) +
             " is " + v.value_or("missing") + " in the pool, " + want + " in the reference";
    };
    // In fail mode both lines are just "Fail".
    auto fail = [&](ref::RefPool& r, StatusField f) -> std::optional<Divergence> {
      if (!model_fail && r.mode() != ref::Mode::fail) return std::nullopt;
      return model_fail == (r.mode() == ref::Mode::fail) ? std::nullopt : field(f, "Fail");
    };
    Divergence d;
    if (auto pd = pool_devices.find(c.name); pd != pool_devices.end()) {
      ref::RefPool& r = *pools.at(pd->second).ref;
      r.status_query(c.noflush);
      if (auto f = fail(r, StatusField::mode)) return *f;
      const bool held = r.metadata_snap_held();
      const bool eins = r.error_if_no_space();
      if (!d) d = field(StatusField::transaction_id, std::to_string(r.transaction_id()));
      if (!d) d = field(StatusField::used_data, std::to_string(r.used_data_blocks()));
      if (!d) d = field(StatusField::total_data, std::to_string(r.data_blocks()));
      if (!d) d = field(StatusField::held_root, held ? "a block number" : "-", held);
      if (!d) d = field(StatusField::mode, std::string(r.mode_word()));
      if (!d) d = field(StatusField::needs_check, r.needs_check() ? "needs_check" : "-");
      if (!d) d = field(StatusField::no_space, eins ? "error_if_no_space" : "queue_if_no_space");
    } else if (auto t = thins.find(c.name); t != thins.end() && t->second.live) {
      const ThinTable& tt = *t->second.live;
      ref::RefPool& r = ref_of(tt);
      if (auto f = fail(r, StatusField::mapped_sectors)) return *f;
      const uint64_t bs = block_sectors(tt);
      auto top = r.highest_mapped_block(tt.dev);
      d = field(StatusField::mapped_sectors, std::to_string(r.mapped_blocks(tt.dev) * bs));
      const std::string highest = top ? std::to_string((*top + 1) * bs - 1) : "-";
      if (!d) d = field(StatusField::highest_sector, highest);
    }
    return d;
  }

  // ---- IO

  bool io_held(const std::string& device) {  // DmCore::io_held
    const Thin& t = thins.at(device);
    return t.suspended || pools.at(t.live->md).suspended;
  }

  Divergence on_io(const Command& cmd, const StepOutcome& out, DmCore& dm) {
    auto io = std::make_shared<Io>();
    io->kind = cmd.kind();
    std::optional<std::string> tag;
    if (auto* w = std::get_if<WriteCmd>(&cmd.body)) {
      io->device = w->name, io->sector = w->sector, io->nr = w->nr_sectors, tag = w->tag;
      io->fua = w->fua;
      io->data.resize(w->nr_sectors * ref::kSectorBytes);
      w->pattern.fill(w->sector * ref::kSectorBytes, io->data);
    } else if (auto* r = std::get_if<ReadCmd>(&cmd.body)) {
      io->device = r->name, io->sector = r->sector, io->nr = r->nr_sectors, tag = r->tag;
    } else if (auto* d = std::get_if<DiscardCmd>(&cmd.body)) {
      io->device = d->name, io->sector = d->sector, io->nr = d->nr_sectors, tag = d->tag;
    } else {
      io->device = cmd.as<FlushCmd>().name, tag = cmd.as<FlushCmd>().tag;
    }
    if (tag) tags[*tag] = io;
    auto t = thins.find(io->device);
    auto table = dm.live_table(io->device);
    // Only IO that reaches a thin target is modelled: not IO to a pool device (it goes
    // straight to the data device) nor what dm core refuses beyond the device's end.
    if (t == thins.end() || !t->second.live || !table) return std::nullopt;
    const uint64_t len = table->length;
    if (io->kind != CommandKind::flush && (io->sector > len || io->nr > len - io->sector))
      return std::nullopt;
    io->target = *t->second.live;
    if (io->kind == CommandKind::discard && pools.at(io->target.md).table.ignore_discard) {
      io->state = Io::State::done, io->err = EOPNOTSUPP;  // dm core refuses at once
    } else if (io_held(io->device)) {
      io->state = Io::State::held;
      held[io->device].push_back(io);
    } else {
      submit(*io);
    }
    if (io->kind == CommandKind::write || io->kind == CommandKind::discard) inflight.push_back(io);
    return compare_io(*io, out);
  }

  void submit(Io& io) {
    ref::RefPool& r = ref_of(io.target);
    const uint32_t dev = io.target.dev;
    ref::IoResult res;
    switch (io.kind) {
      case CommandKind::write: res = r.write(dev, io.sector, io.data, io.fua); break;
      case CommandKind::flush: res = r.flush(dev); break;
      case CommandKind::read:
        io.read = r.read(dev, io.sector, io.nr);
        res.error = io.read.error;
        break;
      default: res.error = r.discard(dev, io.sector, io.nr); break;
    }
    io.handle = res.handle;
    io.err = res.error;
    io.state = res.status == ref::IoStatus::queued ? Io::State::pending : Io::State::done;
  }

  // What dm core does on resume: held IO is mapped again, in order (DmCore::release_held):
  // first what the pool handed back, then what was submitted while the device was held.
  void release_held() {
    for (auto& [device, t] : thins) {
      if (io_held(device)) continue;
      ref_of(*t.live).resubmit_device_io(t.live->dev);
      for (IoPtr& io : std::exchange(held[device], {})) submit(*io);
    }
  }

  void refresh(Io& io) {
    if (io.state != Io::State::pending) return;
    if (auto c = ref_of(io.target).completion(io.handle)) io.state = Io::State::done, io.err = *c;
  }

  // The model's outcome against the reference's; a read's data on the defined sectors.
  Divergence compare_io(Io& io, const StepOutcome& out) {
    refresh(io);
    const bool queued = io.state != Io::State::done;
    const std::string what = std::string(command_name(io.kind)) + " to " + io.device +
                             " (device " + std::to_string(io.target.dev) + ") [" +
                             std::to_string(io.sector) + "+" + std::to_string(io.nr) + ")";
    if (auto d = disagree(what, out.queued, out.result.err, queued, io.err)) return d;
    if (io.kind != CommandKind::read || queued || io.err) return std::nullopt;
    if (out.data.size() != io.read.data.size())
      return "reference model: " + what + ": read lengths differ";
    if (auto off = first_difference(out.data, io.read))
      return "reference model: " + what + ": data differs at byte " +
             std::to_string(io.sector * ref::kSectorBytes + *off) + " of the device: model " +
             hex(out.data[*off]) + ", reference " + hex(io.read.data[*off]);
    return std::nullopt;
  }

  Divergence on_complete(const CompleteCmd& c, const StepOutcome& out) {
    auto it = tags.find(c.tag);
    if (it == tags.end() || it->second->state == Io::State::unmodelled) return std::nullopt;
    return compare_io(*it->second, out);
  }

  // ---- State

  struct Active {  // an active thin device of one pool
    std::string name;
    pool::ThinTarget* target;
    uint32_t dev;
  };

  // Virtual block -> data block, the first `limit` mappings.
  static std::map<uint64_t, uint64_t> pool_mappings(pool::Pool& p, pool::ThinTarget& t,
                                                    size_t limit = SIZE_MAX) {
    std::map<uint64_t, uint64_t> out;
    for (uint64_t b = 0; out.size() < limit;) {
      auto r = p.pmd().find_mapped_range(t.device(), b, std::numeric_limits<uint64_t>::max());
      if (!r) break;
      for (uint64_t v = r->thin_begin; v < r->thin_end && out.size() < limit; ++v)
        out[v] = r->pool_begin + (v - r->thin_begin);
      b = r->thin_end;
    }
    return out;
  }

  Divergence compare_modes(const std::string& name, pool::Pool& p, ref::RefPool& r) {
    auto differ = [&](const std::string& what, const std::string& pv, const std::string& rv) {
      return "state: pool " + name + ": " + what + " is " + pv + " in the pool, " + rv +
             " in the reference";
    };
    auto set = [](bool b) { return b ? "set" : "clear"; };
    const int pm = static_cast<int>(p.mode()), rm = static_cast<int>(r.mode());
    if (pm != rm) return differ("the mode", mode_name(pm), mode_name(rm));
    if (p.mode() == pool::PoolMode::fail) return std::nullopt;
    if (p.pmd().needs_check() != r.needs_check())
      return differ("needs_check", set(p.pmd().needs_check()), set(r.needs_check()));
    if (p.pmd().transaction_id() != r.transaction_id())
      return differ("the transaction id", std::to_string(p.pmd().transaction_id()),
                    std::to_string(r.transaction_id()));
    return std::nullopt;
  }

  Divergence compare_space(const std::string& name, pool::Pool& p, ref::RefPool& r) {
    const uint64_t total = p.pmd().data_dev_size(), used = total - p.pmd().free_data_blocks();
    if (used == r.used_data_blocks() && total == r.data_blocks()) return std::nullopt;
    return "state: pool " + name + ": " + std::to_string(used) + "/" + std::to_string(total) +
           " data blocks used in the pool, " + std::to_string(r.used_data_blocks()) + "/" +
           std::to_string(r.data_blocks()) + " in the reference";
  }

  // The mapped virtual blocks of every active device, and the sharing partition: two
  // mappings share a data block in the pool iff they share a token in the reference.
  Divergence compare_mappings(pool::Pool& p, ref::RefPool& r, const std::vector<Active>& actives) {
    using Owner = std::pair<const Active*, uint64_t>;  // a device and its virtual block
    // data block -> (token, first owner) and token -> (data block, first owner)
    std::map<uint64_t, std::pair<uint64_t, Owner>> by_data, by_token;
    auto who = [](const Active& a) {
      return "device " + std::to_string(a.dev) + " (" + a.name + ")";
    };
    std::set<uint32_t> seen;
    for (const Active& a : actives) {
      if (!seen.insert(a.dev).second) continue;  // one device loaded twice
      auto pm = pool_mappings(p, *a.target);
      auto rm = r.mappings(a.dev);
      auto same_block = [](const auto& x, const auto& y) { return x.first == y.first; };
      auto [pi, ri] = std::mismatch(pm.begin(), pm.end(), rm.begin(), rm.end(), same_block);
      if (pi != pm.end() || ri != rm.end()) {
        const bool in_pool = ri == rm.end() || (pi != pm.end() && pi->first < ri->first);
        return "state: " + who(a) + " maps virtual block " +
               std::to_string(in_pool ? pi->first : ri->first) + " in the " +
               (in_pool ? "pool but not in the reference" : "reference but not in the pool");
      }
      for (const auto& [v, data] : pm) {
        const uint64_t token = rm.at(v);
        auto [d, d_new] = by_data.try_emplace(data, token, Owner{&a, v});
        auto [t, t_new] = by_token.try_emplace(token, data, Owner{&a, v});
        const bool pool_only = !d_new && d->second.first != token;
        if (!pool_only && (t_new || t->second.first == data)) continue;
        const Owner& o = pool_only ? d->second.second : t->second.second;
        return "state: " + who(a) + " maps virtual block " + std::to_string(v) +
               " to a block shared with " + who(*o.first) + " (virtual block " +
               std::to_string(o.second) + ") in the " +
               (pool_only ? "pool but not in the reference" : "reference but not in the pool");
      }
    }
    return std::nullopt;
  }

  std::vector<Active> actives_of(pool::Pool& p, DmCore& dm, Divergence& d) {
    std::vector<Active> out;
    for (const std::string& name : dm.mapped_devices()) {
      pool::ThinTarget* t = dm.thin_of(name);
      if (!t || &t->pool() != &p) continue;
      auto th = thins.find(name);
      if (th == thins.end() || !th->second.live || th->second.live->dev != t->dev_id())
        d = "check-model: lost track of the thin device " + name;
      else
        out.push_back({name, t, th->second.live->dev});
    }
    return out;
  }

  Divergence compare_state(DmCore& dm) {
    for (const auto& [device, md] : pool_devices) {
      pool::Pool* p = dm.pool_of(device);
      if (!p) continue;
      ref::RefPool& r = *pools.at(md).ref;
      Divergence d = compare_modes(device, *p, r);
      if (d || p->mode() == pool::PoolMode::fail) return d;
      auto actives = actives_of(*p, dm, d);
      if (!d) d = compare_mappings(*p, r, actives);
      if (!d) d = compare_space(device, *p, r);
      if (d) return d;
    }
    return std::nullopt;
  }

  // The contents of one virtual block where both sides map it (differences in the
  // mappings themselves are compare_mappings' business).
  Divergence compare_block(DmCore& dm, const std::string& name, uint64_t v) {
    pool::ThinTarget* t = dm.thin_of(name);
    auto th = thins.find(name);
    if (!t || th == thins.end() || !th->second.live || t->pool().mode() == pool::PoolMode::fail)
      return std::nullopt;
    const ThinTable& tt = *th->second.live;
    auto m = t->pool().pmd().find_block(t->device(), v);
    auto rr = ref_of(tt).peek(tt.dev, v);
    if (!m || !rr) return std::nullopt;
    const uint64_t bs = t->pool().sectors_per_block();
    std::vector<std::byte> buf(bs * ref::kSectorBytes);
    t->pool().data_dev().read(m->block * bs, buf);
    auto off = first_difference(buf, *rr);
    if (!off) return std::nullopt;
    return "contents: device " + std::to_string(tt.dev) + " (" + name + ") virtual block " +
           std::to_string(v) + " (data block " + std::to_string(m->block) + "), byte " +
           std::to_string(*off) + " of the block: pool has " + hex(buf[*off]) +
           ", reference has " + hex(rr->data[*off]);
  }

  // Blocks written or discarded by IO that is in flight or finished in this step.
  Divergence compare_touched(DmCore& dm) {
    std::set<std::pair<std::string, uint64_t>> touched;
    for (const IoPtr& io : inflight) {
      if (io->state == Io::State::unmodelled || !thins.count(io->device)) continue;
      const uint64_t bs = block_sectors(io->target);
      for (uint64_t v = io->sector / bs; v <= (io->sector + io->nr - 1) / bs; ++v)
        touched.insert({io->device, v});
    }
    std::erase_if(inflight, [this](const IoPtr& io) {
      refresh(*io);
      return io->state == Io::State::done || io->state == Io::State::unmodelled;
    });
    for (const auto& [name, v] : touched)
      if (auto d = compare_block(dm, name, v)) return d;
    return std::nullopt;
  }

  Divergence step(const Command& cmd, const StepOutcome& out, DmCore& dm) {
    Divergence d;
    switch (cmd.kind()) {
      case CommandKind::disk:
        if (auto& c = cmd.as<DiskCmd>(); !out.result.err) disks[c.name] = {c.size_sectors, c.fill};
        break;
      case CommandKind::create: d = on_create(cmd.as<CreateCmd>(), out, dm); break;
      case CommandKind::reload: d = on_reload(cmd.as<ReloadCmd>(), out); break;
      case CommandKind::suspend: on_suspend(cmd.as<SuspendCmd>(), out); break;
      case CommandKind::resume: d = on_resume(cmd.as<ResumeCmd>(), out); break;
      case CommandKind::remove: on_remove(cmd.as<RemoveCmd>(), out); break;
      case CommandKind::message: d = on_message(cmd.as<MessageCmd>(), out, dm); break;
      case CommandKind::status: d = on_status(cmd.as<StatusCmd>(), out); break;
      case CommandKind::write:
      case CommandKind::read:
      case CommandKind::discard:
      case CommandKind::flush: d = on_io(cmd, out, dm); break;
      case CommandKind::sleep:
        for (auto& [md, e] : pools) e.ref->advance_time(cmd.as<SleepCmd>().duration.count());
        break;
      case CommandKind::complete: d = on_complete(cmd.as<CompleteCmd>(), out); break;
      case CommandKind::table:
      case CommandKind::event: break;
    }
    if (!d) d = compare_state(dm);
    if (!d) d = compare_touched(dm);
    return d;
  }

  // Every mapped block of every active thin device, at most 64 MiB of each device (more
  // costs time for little: the per-step checks already compared every block IO touched).
  Divergence compare_all_contents(DmCore& dm) {
    constexpr uint64_t kMaxBytesPerDevice = 64ull << 20;
    for (const std::string& name : dm.mapped_devices()) {
      pool::ThinTarget* t = dm.thin_of(name);
      if (!t || t->pool().mode() == pool::PoolMode::fail) continue;
      const size_t blocks =
          kMaxBytesPerDevice / (t->pool().sectors_per_block() * ref::kSectorBytes);
      for (const auto& [v, data] : pool_mappings(t->pool(), *t, blocks))
        if (auto d = compare_block(dm, name, v)) return d;
    }
    return std::nullopt;
  }
};

ModelCheck::ModelCheck(uint64_t no_space_timeout_ms) : impl_(std::make_unique<Impl>()) {
  impl_->no_space_timeout_ms = no_space_timeout_ms;
}

ModelCheck::~ModelCheck() = default;

std::optional<std::string> ModelCheck::after_step(const Command& cmd, const StepOutcome& out,
                                                  DmCore& dm) {
  try {
    return impl_->step(cmd, out, dm);
  } catch (const std::exception& e) {  // the reference refusing its input, a pool query failing
    return std::string("check-model: ") + e.what();
  }
}

std::optional<std::string> ModelCheck::at_end(DmCore& dm) {
  try {
    return impl_->compare_all_contents(dm);
  } catch (const std::exception& e) {
    return std::string("check-model: ") + e.what();
  }
}

}  // namespace thinsim::harness
