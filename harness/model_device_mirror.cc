// thinsim run --check-model: tables, suspension and removal of the mapped devices on the
// reference, and the pool messages and status lines compared with it.
#include "harness/model_device_mirror.h"

#include <cerrno>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace thinsim::harness::model_check {

// A disk resized under its users: a metadata disk's pool sees the new size at its next
// resume. (An external origin's new size would be seen at its thin device's next resume;
// the reference keeps the size it was opened with.)
void DeviceMirror::on_resize(const ResizeCmd& c, const StepOutcome& out) {
  auto d = s_.disks.find(c.name);
  if (out.result.err || d == s_.disks.end()) return;
  d->second.sectors = c.size_sectors;
  if (auto p = s_.pools.find(c.name); p != s_.pools.end())
    p->second.ref->set_metadata_device_blocks(metadata_blocks(c.size_sectors));
}

// IO errors: the reference follows the ones whose effect it can tell, write (or flush)
// errors on a pool's metadata disk that make the next commit fail, or every commit until
// cleared. Which operation a read error, a delayed error or a burst of several errors
// hits depends on the block manager's cache and the btree layout, not on the pool's
// semantics, so those are refused rather than guessed.
Divergence DeviceMirror::on_fault(const FaultCmd& c, const StepOutcome& out) {
  if (out.result.err) return std::nullopt;
  auto p = s_.pools.find(c.name);
  if (c.action == FaultAction::clear) {
    if (p != s_.pools.end()) p->second.ref->heal_metadata();
    return std::nullopt;
  }
  if (c.action != FaultAction::io_error || !c.rule)
    return "check-model: media faults are not followed (ModelCheck stops before them)";
  const fault::IoFaultRule& r = *c.rule;
  const unsigned followed = fault::kWrite | fault::kFlush | fault::kDiscard;
  std::string why;
  if (p == s_.pools.end())
    why = "it only follows faults on the metadata disk of a pool it already models";
  else if (r.ops & ~followed)
    why = "which commit a read error fails depends on the block cache";
  else if (r.after || (r.count && *r.count != 1))
    why = "after= and count= other than 1 make the failing commit depend on how many blocks each commit writes";
  if (!why.empty())
    return "check-model: the reference model cannot follow \"" +
           to_text(Command{SourceLocation{}, CommandBody{c}, std::nullopt}) + "\": " + why;
  p->second.ref->fail_metadata_commits(r.count);
  return std::nullopt;
}

void DeviceMirror::on_check(const CheckCmd& c, const StepOutcome& out) {
  if (out.result.err || !c.clear_needs_check) return;
  if (auto p = s_.pools.find(c.name); p != s_.pools.end()) p->second.ref->clear_needs_check_offline();
}

Divergence DeviceMirror::on_create(const CreateCmd& c, const StepOutcome& out, DmCore& dm) {
  const bool known = s_.pool_devices.count(c.name) || s_.thins.count(c.name);
  // A refused table leaves no device; a failed resume leaves the device suspended.
  const bool loaded = !out.result.err || (!known && dm.is_mapped_device(c.name));
  if (c.table.target == "thin-pool" && loaded)
    return create_pool(c.name, c.table, out.result.err);
  if (c.table.target == "thin" && (!out.result.err || out.result.err == ENODATA))
    return open_thin(c.name, c.table, out.result.err, false);
  return std::nullopt;
}

Divergence DeviceMirror::create_pool(const std::string& name, const TableLine& table,
                                     int model_err) {
  auto params = pool_params(table, no_space_timeout_ms_);
  if (!params) return "check-model: cannot read the pool table of " + name;
  const std::string& md = table.args[0];
  if (auto d = s_.disks.find(md); d != s_.disks.end()) params->metadata_blocks = metadata_blocks(d->second.sectors);
  auto it = s_.pools.find(md);
  int r = 0;
  if (it == s_.pools.end()) {
    s_.pools[md].ref = std::make_unique<ref::RefPool>(*params), it = s_.pools.find(md);
  } else {  // the same metadata again: what it persisted comes back (pool_create reopens it)
    it->second.ref->set_metadata_device_blocks(params->metadata_blocks);
    r = it->second.ref->reopen(*params);
  }
  PoolRef& e = it->second;
  e.table = *params;
  e.inactive.reset();
  e.bind_table = e.suspended = r != 0;
  s_.pool_devices[name] = md;
  return disagree("create " + name, model_err, r);
}

Divergence DeviceMirror::open_thin(const std::string& name, const TableLine& table,
                                   int model_err, bool reload) {
  const auto& a = table.args;
  auto pd = s_.pool_devices.find(a.size() > 1 ? a[0] : "");
  auto dev = a.size() > 1 ? decimal(a[1]) : std::nullopt;
  if (pd == s_.pool_devices.end() || !dev)
    return "check-model: cannot follow the thin table of " + name;
  std::optional<ref::ExternalOrigin> origin;
  if (a.size() > 2) {
    // The reference reads the pattern the disk was filled with, not the disk itself.
    auto d = s_.disks.find(a[2]);
    if (d == s_.disks.end())
      return "check-model: the external origin " + a[2] + " of " + name +
             " is not a disk; the reference model only follows disks";
    origin = ref::ExternalOrigin{d->second.sectors,
                                 [fill = d->second.fill](uint64_t s, std::span<std::byte> out) {
                                   fill.fill(s * ref::kSectorBytes, out);
                                 }};
  }
  ThinTable t{pd->second, static_cast<uint32_t>(*dev)};
  int r = s_.ref_of(t).open(*dev, std::move(origin));
  if (r != model_err && !r) s_.ref_of(t).close(t.dev);
  if (r || r != model_err)
    return disagree("activating thin device " + a[1] + " (" + name + ")", model_err, r);
  Thin& th = s_.thins[name];
  std::optional<ThinTable>& slot = reload ? th.inactive : th.live;
  if (slot) s_.ref_of(*slot).close(slot->dev);  // a replaced inactive table is destroyed
  slot = t;
  return std::nullopt;
}

Divergence DeviceMirror::on_reload(const ReloadCmd& c, const StepOutcome& out) {
  if (out.result.err) return std::nullopt;
  if (auto pd = s_.pool_devices.find(c.name); pd != s_.pool_devices.end()) {
    auto params = pool_params(c.table, no_space_timeout_ms_);
    if (!params) return "check-model: cannot read the pool table of " + c.name;
    // __pool_find reuses the pool whatever block size the table names; the pool's counts.
    params->block_sectors = s_.pools.at(pd->second).table.block_sectors;
    params->data_blocks = c.table.length / params->block_sectors;
    s_.pools.at(pd->second).inactive = params;
    return std::nullopt;
  }
  if (s_.thins.count(c.name)) return open_thin(c.name, c.table, 0, true);
  return std::nullopt;
}

void DeviceMirror::suspend_pool(PoolRef& e) {
  if (e.suspended) return;
  e.ref->suspend();
  e.suspended = true;
}

void DeviceMirror::on_suspend(const SuspendCmd& c, const StepOutcome& out) {
  if (out.result.err) return;
  if (auto pd = s_.pool_devices.find(c.name); pd != s_.pool_devices.end())
    suspend_pool(s_.pools.at(pd->second));
  else if (auto t = s_.thins.find(c.name); t != s_.thins.end() && !t->second.suspended) {
    // dm core now holds the device's IO, and takes back what the pool was holding.
    t->second.suspended = true;
    s_.ref_of(*t->second.live).take_device_io(t->second.live->dev);
  }
}

Divergence DeviceMirror::on_resume(const ResumeCmd& c, const StepOutcome& out) {
  if (auto pd = s_.pool_devices.find(c.name); pd != s_.pool_devices.end()) {
    PoolRef& e = s_.pools.at(pd->second);
    if (e.inactive) {  // dm core suspends, swaps the tables, then resumes
      suspend_pool(e);
      e.table = *e.inactive;
      e.inactive.reset();
      e.bind_table = true;
    }
    if (!e.suspended) return std::nullopt;
    const int r = e.bind_table ? e.ref->reload(e.table) : e.ref->resume();
    if (!r) e.bind_table = e.suspended = false;
    if (r != out.result.err) return disagree("resume " + c.name, out.result.err, r);
  } else if (auto t = s_.thins.find(c.name); t != s_.thins.end() && !out.result.err) {
    Thin& th = t->second;
    if (th.inactive) {
      s_.ref_of(*th.live).close(th.live->dev);
      th.live = std::exchange(th.inactive, std::nullopt);
    }
    th.suspended = false;
  }
  io_.release_held();
  return std::nullopt;
}

void DeviceMirror::on_remove(const RemoveCmd& c, const StepOutcome& out) {
  if (out.result.err) return;
  if (auto pd = s_.pool_devices.find(c.name); pd != s_.pool_devices.end()) {
    PoolRef& e = s_.pools.at(pd->second);
    suspend_pool(e);  // __dm_destroy suspends; the RefPool stays for the metadata
    e.inactive.reset();
    s_.pool_devices.erase(pd);
  } else if (auto t = s_.thins.find(c.name); t != s_.thins.end()) {
    // Whatever IO of the device is still outstanding fails (DmCore::remove, thin_dtr).
    s_.ref_of(*t->second.live).take_device_io(t->second.live->dev);
    for (auto* slot : {&t->second.live, &t->second.inactive})
      if (*slot) s_.ref_of(**slot).close((*slot)->dev);
    io_.fail_outstanding(c.name);
    s_.thins.erase(t);
  }
}

Divergence DeviceMirror::on_message(const MessageCmd& c, const StepOutcome& out, DmCore& dm) {
  auto pd = s_.pool_devices.find(c.name);
  auto argv = words(c.text);
  auto table = dm.live_table(c.name);
  // dm core's own refusals (no device, empty, sector beyond the end) never reach the pool.
  if (pd == s_.pool_devices.end() || argv.empty() || !table || c.sector >= table->length)
    return std::nullopt;
  int r = ref_message(*s_.pools.at(pd->second).ref, argv);
  return disagree("message \"" + c.text + "\" to " + c.name, out.result.err, r);
}

Divergence DeviceMirror::on_status(const StatusCmd& c, const StepOutcome& out) {
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
  if (auto pd = s_.pool_devices.find(c.name); pd != s_.pool_devices.end()) {
    ref::RefPool& r = *s_.pools.at(pd->second).ref;
    r.status_query(c.noflush);
    if (auto f = fail(r, StatusField::mode)) return *f;
    const bool held = r.metadata_snap_held();
    const bool eins = r.error_if_no_space();
    if (!d) d = field(StatusField::transaction_id, std::to_string(r.transaction_id()));
    if (!d) d = field(StatusField::used_data, std::to_string(r.used_data_blocks()));
    if (!d) d = field(StatusField::total_data, std::to_string(r.data_blocks()));
    if (!d && r.metadata_blocks())
      d = field(StatusField::total_metadata, std::to_string(r.metadata_blocks()));
    if (!d) d = field(StatusField::held_root, held ? "a block number" : "-", held);
    if (!d) d = field(StatusField::mode, std::string(r.mode_word()));
    if (!d) d = field(StatusField::needs_check, r.needs_check() ? "needs_check" : "-");
    if (!d) d = field(StatusField::no_space, eins ? "error_if_no_space" : "queue_if_no_space");
  } else if (auto t = s_.thins.find(c.name); t != s_.thins.end() && t->second.live) {
    const ThinTable& tt = *t->second.live;
    ref::RefPool& r = s_.ref_of(tt);
    if (auto f = fail(r, StatusField::mapped_sectors)) return *f;
    const uint64_t bs = s_.block_sectors(tt);
    auto top = r.highest_mapped_block(tt.dev);
    d = field(StatusField::mapped_sectors, std::to_string(r.mapped_blocks(tt.dev) * bs));
    const std::string highest = top ? std::to_string((*top + 1) * bs - 1) : "-";
    if (!d) d = field(StatusField::highest_sector, highest);
  }
  return d;
}

}  // namespace thinsim::harness::model_check
