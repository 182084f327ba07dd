#include "sim/kernel/oracle_case.h"

#include <algorithm>
#include <cerrno>
#include <functional>
#include <set>

namespace thinsim::kernel {

using namespace harness;

bool OracleCase::is_disk(const std::string& n) const { return disk(n) != nullptr; }

bool OracleCase::is_metadata_disk(const std::string& n) const {
  return std::any_of(pool_disks.begin(), pool_disks.end(), [&](const PoolDisks& pd) { return pd.metadata == n; });
}

const OracleDisk* OracleCase::disk(const std::string& n) const {
  for (const OracleDisk& d : disks)
    if (d.name == n) return &d;
  return nullptr;
}

std::string OracleCase::step_location(size_t step) const {
  if (step >= run.commands.size()) return name + ": end";
  const Command& c = run.commands[step];
  if (step < scenario_steps) return to_string(c.location);
  return name + ": after the scenario (" + to_text(c) + ")";
}

namespace {

// The name a command acts on, if it names one.
const std::string* target_name(const Command& c) {
  return std::visit(
      [](const auto& b) -> const std::string* {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, SleepCmd> || std::is_same_v<T, CompleteCmd> || std::is_same_v<T, CrashCmd>)
          return nullptr;
        else
          return &b.name;
      },
      c.body);
}

// Half-open sector ranges, merged.
void add_range(std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t begin, uint64_t end) {
  begin -= begin % kContentGranuleSectors;
  end = (end + kContentGranuleSectors - 1) / kContentGranuleSectors * kContentGranuleSectors;
  ranges.emplace_back(begin, end);
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (auto r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  ranges = std::move(merged);
}

Command appended(const std::string& file, size_t n, CommandBody body) {
  Command c;
  c.location = SourceLocation{file, 0, static_cast<uint32_t>(n)};
  c.body = std::move(body);
  return c;
}

// The steps the oracle puts in at a command's line: the wait for the commit timer, and a
// flush of a device.
Command timer_expiry_at(const SourceLocation& at) {
  SleepCmd expiry;
  expiry.duration = std::chrono::milliseconds(kTimerExpiryMs);
  Command e;
  e.location = at;
  e.body = expiry;
  return e;
}

Command flush_at(const SourceLocation& at, const std::string& device) {
  FlushCmd flush;
  flush.name = device;
  Command f;
  f.location = at;
  f.body = flush;
  return f;
}

// An untagged write to a thin device cut at the pool's block boundaries, where dm core cuts
// the bio: the kernel's worker may commit between two pieces' mapping inserts when they
// land in different passes, so each piece becomes a write of its own with a forced commit
// between. Only the last piece keeps FUA (the write, then a flush).
std::vector<Command> block_pieces(const Command& c, uint64_t block) {
  const WriteCmd& w = c.as<WriteCmd>();
  if (block == 0 || w.tag || w.sector / block == (w.sector + w.nr_sectors - 1) / block) return {c};
  std::vector<Command> pieces;
  for (uint64_t s = w.sector, end = w.sector + w.nr_sectors; s < end;) {
    const uint64_t e = std::min(end, (s / block + 1) * block);
    Command p = c;
    WriteCmd& pw = p.as<WriteCmd>();
    pw.sector = s;
    pw.nr_sectors = e - s;
    pw.fua = w.fua && e == end;
    pieces.push_back(std::move(p));
    s = e;
  }
  return pieces;
}

// A crash comes after the IO that precedes it without forced commits (the writes it
// cuts are still cached). Forced commits (a status, a message) do not restart the
// kernel's commit timer, only the worker's own commits do, so by then the kernel's timer
// is likely due while the model's clock stands still. So the timer expires just before
// that IO on both sides (before a discard just ahead of it, if there is one, as before
// any discard): the first worker pass that changes the metadata commits everywhere. The
// writes that pass issues are still in flight during its commit (Pool::hold_until_commit)
// and whether the kernel's flush covers them is a race; so the first write in the IO to
// a block no earlier write touched (it provisions, so its pass is that one, unless an
// overwrite before it changed something) is followed by a flush of its device on both
// sides, which leaves it durable either way and restarts the timer. The rest has to end
// within a second, which the guest checks (kCrashWindowMs; docs/kernel-oracle.md, "How
// time is controlled").
void shape_crash_windows(OracleCase& oc, const std::function<uint64_t(const std::string&)>& block_sectors) {
  oc.timer_expiry.resize(oc.commit_after.size(), false);
  oc.crash_window.assign(oc.run.commands.size(), false);
  std::vector<bool> fresh(oc.run.commands.size(), false);
  {
    std::set<std::pair<std::string, uint64_t>> written;
    for (size_t i = 0; i < oc.run.commands.size(); ++i) {
      if (oc.run.commands[i].kind() != CommandKind::write) continue;
      const WriteCmd& w = oc.run.commands[i].as<WriteCmd>();
      const uint64_t b = block_sectors(w.name);
      if (b == 0 || w.nr_sectors == 0) continue;
      bool untouched = true;
      for (uint64_t blk = w.sector / b; blk <= (w.sector + w.nr_sectors - 1) / b; ++blk)
        untouched &= written.insert({w.name, blk}).second;
      fresh[i] = untouched;
    }
  }
  auto kind = [&](size_t i) { return oc.run.commands[i].kind(); };
  auto insert_at = [&](size_t at, Command cmd, bool expiry) {
    const auto pos = static_cast<ptrdiff_t>(at);
    oc.run.commands.insert(oc.run.commands.begin() + pos, std::move(cmd));
    oc.commit_after.insert(oc.commit_after.begin() + pos, false);
    oc.timer_expiry.insert(oc.timer_expiry.begin() + pos, expiry);
    oc.crash_window.insert(oc.crash_window.begin() + pos, false);
    fresh.insert(fresh.begin() + pos, false);
  };
  for (size_t c = oc.run.commands.size(); c-- > 0;) {
    if (kind(c) != CommandKind::crash) continue;
    size_t w = c;
    bool writes = false;
    while (w > 0 && (kind(w - 1) == CommandKind::write || kind(w - 1) == CommandKind::read ||
                     kind(w - 1) == CommandKind::flush)) {
      --w;
      writes |= kind(w) == CommandKind::write;
      oc.commit_after[w] = false;
    }
    if (!writes) {
      oc.crash_window[c] = true;
      continue;
    }
    size_t first = w;  // the IO right after the timer expires
    if (w > 0 && kind(w - 1) == CommandKind::discard) {
      first = w - 1;
    } else {
      insert_at(w, timer_expiry_at(oc.run.commands[w].location), true);
      oc.sleep_ms += kGuestTimerWaitMs;
      first = w + 1;
      ++c;
    }
    oc.crash_window[first] = true;
    for (size_t r = first; r < c; ++r) {
      if (kind(r) != CommandKind::write || !fresh[r]) continue;
      insert_at(r + 1, flush_at(oc.run.commands[r].location, oc.run.commands[r].as<WriteCmd>().name), false);
      break;
    }
  }
}

}  // namespace

OracleCase prepare_case(const Scenario& scenario, std::string name, std::string source) {
  OracleCase oc;
  oc.name = std::move(name);
  oc.source = std::move(source);
  std::vector<std::pair<uint64_t, uint64_t>> touched;
  std::map<std::string, uint64_t> thin_length;  // last thin table length of each name
  std::vector<std::string> thin_order;
  std::map<std::string, std::string> thin_pool;      // thin name -> the pool its table names
  std::map<std::string, uint64_t> pool_block;        // pool name -> sectors per block
  auto note_device = [&](const std::string& n) {
    if (std::find(oc.devices.begin(), oc.devices.end(), n) == oc.devices.end()) oc.devices.push_back(n);
  };
  auto note_table = [&](const std::string& n, const TableLine& t) {
    if (oc.is_disk(n))
      throw Untranslatable("a dm device named like the disk \"" + n + "\"");
    note_device(n);
    if (t.target == "thin-pool") {
      if (std::find(oc.pools.begin(), oc.pools.end(), n) == oc.pools.end()) oc.pools.push_back(n);
      if (t.args.size() >= 3 && !pool_block.count(n)) {
        try {
          pool_block[n] = std::stoull(t.args[2]);
        } catch (const std::exception&) {
        }
      }
      if (t.args.size() >= 2) {
        bool known = false;
        for (auto& pd : oc.pool_disks) known |= pd.metadata == t.args[0];
        if (!known && oc.is_disk(t.args[0]) && oc.is_disk(t.args[1]))
          oc.pool_disks.push_back({t.args[0], t.args[1]});
      }
    } else if (t.target == "thin") {
      if (!thin_length.count(n)) thin_order.push_back(n);
      thin_length[n] = t.length;
      if (t.start == 0 && !t.args.empty()) thin_pool[n] = t.args[0];
    }
  };

  // The block size of the pool a thin device's table names (0 if not known).
  auto block_sectors = [&](const std::string& thin) -> uint64_t {
    auto t = thin_pool.find(thin);
    if (t == thin_pool.end()) return 0;
    auto b = pool_block.find(t->second);
    return b == pool_block.end() ? 0 : b->second;
  };
  const bool crashes = std::any_of(scenario.commands.begin(), scenario.commands.end(),
                                  [](const Command& x) { return x.kind() == CommandKind::crash; });
  for (const Command& c0 : scenario.commands) {
    Command c = c0;
    c.expect.reset();
    const std::string* n = target_name(c);
    switch (c.kind()) {
      case CommandKind::disk: {
        auto& d = c.as<DiskCmd>();
        if (oc.is_disk(d.name)) throw Untranslatable("disk \"" + d.name + "\" made twice");
        oc.disks.push_back({d.name, d.size_sectors, d.fill});
        break;
      }
      case CommandKind::resize: {
        auto& r = c.as<ResizeCmd>();
        for (OracleDisk& d : oc.disks)
          if (d.name == r.name) d.max_sectors = std::max(d.max_sectors, r.size_sectors);
        if (!oc.is_disk(r.name)) throw Untranslatable("resize of \"" + r.name + "\", which is not a disk");
        if (r.size_sectors == 0) throw Untranslatable("resize of a disk to zero sectors");
        break;
      }
      case CommandKind::fault: {
        // The guest kernel (Debian's cloud flavour) has dm-log-writes, dm-flakey and nbd,
        // but no dm-dust and no fail_make_request. A fault dm-flakey does exactly uses it;
        // any other makes the disk a served one (guest_disks.cc).
        auto& f = c.as<FaultCmd>();
        if (!oc.is_disk(f.name)) throw Untranslatable("fault on \"" + f.name + "\", which is not a disk");
        bool serve = false;
        switch (f.action) {
          case FaultAction::bit_flip:
          case FaultAction::ignore_flush:
          case FaultAction::clear: break;
          case FaultAction::io_error: {
            // dm-flakey, always down, fails every IO, or (error_writes) every write, flush
            // and discard, from the fault to its clear, with EIO.
            const fault::IoFaultRule& rule = *f.rule;
            const bool metadata = oc.is_metadata_disk(f.name);
            const unsigned writes = fault::kWrite | fault::kFlush | fault::kDiscard;
            const bool flakey = rule.ops == fault::kAnyOp ||
                                (!(rule.ops & fault::kRead) &&
                                 ((rule.ops & writes) == writes || (metadata && (rule.ops & fault::kWrite))));
            // The nbd driver completes a failed request with EIO whatever the server says.
            if (rule.error != EIO) throw Untranslatable("fault error with an errno other than EIO");
            serve = rule.after || rule.count || !flakey;
            if (crashes && !serve)
              throw Untranslatable("fault error in a case that crashes (its disks are log-writes targets)");
            break;
          }
          case FaultAction::latent_error:
          case FaultAction::lost_writes:
          case FaultAction::misdirected_writes: serve = true; break;
        }
        if (serve && crashes)
          throw Untranslatable(std::string("fault ") + std::string(fault_action_name(f.action)) +
                               " in a case that crashes (a served disk is not journaled)");
        if (serve)
          for (OracleDisk& d : oc.disks)
            if (d.name == f.name) d.served = true;
        break;
      }
      case CommandKind::crash: oc.crashes.push_back(c.as<CrashCmd>()); break;
      case CommandKind::check: {
        // In the guest the disk's bytes are copied out and compared with the model's:
        // equal bytes get the same verdict from any checker.
        auto& ck = c.as<CheckCmd>();
        // --clear-needs-check-flag: dmctl clear-needs-check writes what thin_check writes
        // once its check passes. Were the model's check to fail, the bytes would then differ.
        if (!oc.is_disk(ck.name)) throw Untranslatable("check of \"" + ck.name + "\", which is not a disk");
        break;
      }
      case CommandKind::create: note_table(c.as<CreateCmd>().name, c.as<CreateCmd>().table); break;
      case CommandKind::reload: note_table(c.as<ReloadCmd>().name, c.as<ReloadCmd>().table); break;
      case CommandKind::write: {
        auto& w = c.as<WriteCmd>();
        add_range(touched, w.sector, w.sector + w.nr_sectors);
        oc.write_bytes += w.nr_sectors * 512;
        break;
      }
      case CommandKind::read: {
        auto& r = c.as<ReadCmd>();
        add_range(touched, r.sector, r.sector + r.nr_sectors);
        break;
      }
      case CommandKind::discard: {
        auto& d = c.as<DiscardCmd>();
        add_range(touched, d.sector, d.sector + d.nr_sectors);
        break;
      }
      case CommandKind::sleep: oc.sleep_ms += c.as<SleepCmd>().duration.count(); break;
      default: break;
    }
    if (n && c.kind() != CommandKind::disk && c.kind() != CommandKind::resize && c.kind() != CommandKind::check &&
        c.kind() != CommandKind::fault && oc.is_disk(*n))
      throw Untranslatable(std::string(command_name(c.kind())) + " of the disk \"" + *n +
                           "\" (disks are not dm devices in the model)");
    if (c.kind() == CommandKind::disk || c.kind() == CommandKind::resize)
      for (const std::string& dev : oc.devices)
        if (dev == *n) throw Untranslatable("a disk named like the dm device \"" + *n + "\"");
    const CommandKind k = c.kind();
    if (k == CommandKind::write) {
      // A FUA write from user space is never one alone: block/fops.c follows an O_DSYNC
      // write with a flush of the whole device (generic_write_sync). A power cut tells the
      // two apart, so in a case that crashes both sides write and then flush as two steps;
      // elsewhere the model's side sends the flush within the step (model_side.cc).
      const bool fua_then_flush = crashes && c.as<WriteCmd>().fua;
      if (fua_then_flush) c.as<WriteCmd>().fua = false;
      for (Command& piece : block_pieces(c, block_sectors(c.as<WriteCmd>().name))) {
        oc.commit_after.push_back(true);
        oc.run.commands.push_back(std::move(piece));
      }
      if (fua_then_flush) {
        oc.commit_after.push_back(true);
        oc.run.commands.push_back(flush_at(c.location, c.as<WriteCmd>().name));
      }
      continue;
    }
    if (k == CommandKind::discard) {
      oc.commit_after.push_back(false);
      oc.timer_expiry.resize(oc.commit_after.size(), false);
      oc.timer_expiry.back() = true;
      oc.sleep_ms += kGuestTimerWaitMs;
      oc.run.commands.push_back(timer_expiry_at(c.location));
    }
    oc.commit_after.push_back(k == CommandKind::discard || k == CommandKind::flush ||
                              k == CommandKind::complete || k == CommandKind::resume);
    oc.run.commands.push_back(std::move(c));
  }
  // Commit just before every IO too: the kernel's worker commits on its own once a second
  // has passed since the last commit (COMMIT_PERIOD), and a commit in the middle of an IO
  // resets the space maps' search hints between two allocations. Starting each IO right
  // after a commit keeps that from happening (docs/kernel-oracle.md).
  for (size_t i = 1; i < oc.run.commands.size(); ++i) {
    const CommandKind k = oc.run.commands[i].kind();
    if (k == CommandKind::write || k == CommandKind::discard || k == CommandKind::flush) oc.commit_after[i - 1] = true;
  }
  shape_crash_windows(oc, block_sectors);
  if (oc.journaled())
    for (const Command& c : scenario.commands)
      if (c.kind() == CommandKind::resize || (c.kind() == CommandKind::disk && c.as<DiskCmd>().size_sectors == 0))
        throw Untranslatable(to_string(c.location) +
                             ": a disk that changes size in a case that crashes (a log-writes target "
                             "cannot be reloaded without starting its log again)");
  oc.scenario_steps = oc.run.commands.size();
  oc.timer_expiry.resize(oc.scenario_steps, false);
  oc.crash_window.resize(oc.scenario_steps, false);
  oc.run.file = scenario.file;

  // Read back what any IO touched, on every thin device still there.
  size_t n = 0;
  for (const std::string& thin : thin_order) {
    const uint64_t len = thin_length[thin];
    for (auto [b, e] : touched) {
      e = std::min(e, len);
      for (uint64_t s = b; s < e; s += kContentReadSectors) {
        ReadCmd r;
        r.name = thin;
        r.sector = s;
        r.nr_sectors = std::min(kContentReadSectors, e - s);
        oc.run.commands.push_back(appended(oc.name, ++n, r));
        oc.commit_after.push_back(false);
        oc.timer_expiry.push_back(false);
        oc.crash_window.push_back(false);
      }
    }
  }
  // Tear down: every device, the newest first (a table can only name older ones).
  for (auto it = oc.devices.rbegin(); it != oc.devices.rend(); ++it) {
    RemoveCmd r;
    r.name = *it;
    oc.run.commands.push_back(appended(oc.name, ++n, r));
    oc.commit_after.push_back(false);
    oc.timer_expiry.push_back(false);
    oc.crash_window.push_back(false);
  }
  return oc;
}

}  // namespace thinsim::kernel
