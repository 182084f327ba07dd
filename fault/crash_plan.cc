#include "fault/crash_plan.h"

#include <cstring>

#include "sim/sector_hash.h"

namespace thinsim::fault {
namespace {

using sim::kSectorBytes;

// Atomic units a write spans, cut at absolute unit boundaries: [start, end) sector
// index ranges within the write.
std::vector<std::pair<uint32_t, uint32_t>> units_of(const sim::PendingWrite& w, uint32_t unit_bytes) {
  const uint64_t per = unit_bytes / kSectorBytes;
  std::vector<std::pair<uint32_t, uint32_t>> units;
  uint32_t i = 0;
  while (i < w.nr_sectors) {
    const uint64_t abs = w.sector + i;
    const uint64_t next_boundary = (abs / per + 1) * per;
    const uint32_t j = uint32_t(std::min<uint64_t>(w.nr_sectors, i + (next_boundary - abs)));
    units.emplace_back(i, j);
    i = j;
  }
  return units;
}

// Options for a torn write: a kept prefix or suffix of k units, 0 < k < units; with
// tearable sectors, the sector at the cut is also half-written or garbage (x3), and a
// write of one unit can still be torn inside its first sector (2 shapes).
uint32_t tear_shapes(size_t units, bool torn_sectors) {
  if (units >= 2) return uint32_t(2 * (units - 1) * (torn_sectors ? 3 : 1));
  return torn_sectors ? 2 : 0;
}

}  // namespace

uint64_t CrashPlan::state_count(std::span<sim::SimDisk* const> disks, const TearOptions& options) {
  constexpr uint64_t kCap = uint64_t(1) << 63;
  uint64_t n = 1;
  for (sim::SimDisk* d : disks)
    for (const sim::PendingWrite& w : d->pending()) {
      uint64_t options_here = 2;
      if (options.tear_writes)
        options_here += tear_shapes(units_of(w, d->contract().atomic_unit).size(), d->contract().torn_sectors);
      n = n > kCap / options_here ? kCap : n * options_here;
    }
  return n;
}

void CrashPlan::keep(size_t disk, sim::SimDisk& d, const sim::PendingWrite& w, uint32_t first,
                     uint32_t last) {
  for (uint32_t i = first; i < last; ++i) {
    if (!w.live[i] || w.sector + i >= d.nr_sectors()) continue;
    const uint64_t s = w.sector + i;
    const bool wild = w.discard && d.contract().discard == sim::DiscardSemantics::undefined;
    auto [it, fresh] = overlays_[disk].try_emplace(s);
    const uint64_t old = fresh ? d.durable_sector_hash(s)
                               : sim::sector_hash(d.disk_id(), s, {it->second.data, kSectorBytes});
    it->second = {w.data.data() + size_t(i) * kSectorBytes, w.seq, wild};
    hashes_[disk] += w.hashes[i] - old;
  }
}

void CrashPlan::keep_wild(size_t disk, sim::SimDisk& d, const sim::PendingWrite& w, uint32_t i,
                          bool garbage) {
  const uint64_t s = w.sector + i;
  if (!w.live[i] || s >= d.nr_sectors()) return;
  std::vector<std::byte>& bytes = owned_.emplace_back(kSectorBytes);
  if (garbage) {
    uint64_t state = w.seq * 0x2545f4914f6cdd1dull + s;
    for (size_t k = 0; k < kSectorBytes; k += 8) {
      const uint64_t r = splitmix64(state);
      std::memcpy(bytes.data() + k, &r, 8);
    }
  } else {
    // Half written: the new first half over what the sector held.
    auto prev = overlays_[disk].find(s);
    if (prev != overlays_[disk].end())
      std::memcpy(bytes.data(), prev->second.data, kSectorBytes);
    else
      d.read_durable(s, bytes);
    std::memcpy(bytes.data(), w.data.data() + size_t(i) * kSectorBytes, kSectorBytes / 2);
  }
  auto [it, fresh] = overlays_[disk].try_emplace(s);
  const uint64_t old = fresh ? d.durable_sector_hash(s)
                             : sim::sector_hash(d.disk_id(), s, {it->second.data, kSectorBytes});
  it->second = {bytes.data(), w.seq, true};
  hashes_[disk] += sim::sector_hash(d.disk_id(), s, bytes) - old;
}

CrashPlan CrashPlan::choose(std::span<sim::SimDisk* const> disks, CrashChooser& chooser,
                            const TearOptions& options) {
  CrashPlan plan;
  plan.overlays_.resize(disks.size());
  plan.hashes_.resize(disks.size());
  for (size_t di = 0; di < disks.size(); ++di) {
    sim::SimDisk& d = *disks[di];
    plan.hashes_[di] = d.durable_hash();
    const bool torn_sectors = d.contract().torn_sectors;
    const auto& pending = d.pending();
    for (uint32_t wi = 0; wi < pending.size(); ++wi) {
      const sim::PendingWrite& w = pending[wi];
      const auto units = units_of(w, d.contract().atomic_unit);
      const uint32_t shapes = options.tear_writes ? tear_shapes(units.size(), torn_sectors) : 0;
      const uint32_t pick = chooser.choose(2 + shapes);
      WriteOutcome out{uint32_t(di), wi, WriteFate::lost, {}};
      if (pick == 1) {
        out.fate = WriteFate::whole;
        plan.keep(di, d, w, 0, w.nr_sectors);
      } else if (pick >= 2) {
        out.fate = WriteFate::torn;
        uint32_t shape = pick - 2;
        if (units.size() < 2) {
          // One unit, torn inside its first sector.
          plan.keep_wild(di, d, w, 0, shape == 1);
          out.tear = shape == 1 ? "sector 0 garbage" : "sector 0 half written";
        } else {
          uint32_t sector_mode = 0;
          if (torn_sectors) {
            sector_mode = shape % 3;
            shape /= 3;
          }
          const uint32_t k = shape / 2 + 1;  // units kept
          const bool prefix = shape % 2 == 0;
          const uint32_t n = uint32_t(units.size());
          const uint32_t first_unit = prefix ? 0 : n - k;
          const uint32_t last_unit = prefix ? k : n;
          plan.keep(di, d, w, units[first_unit].first, units[last_unit - 1].second);
          out.tear = "units " + std::to_string(first_unit) + "-" + std::to_string(last_unit - 1) +
                     " of " + std::to_string(n);
          if (sector_mode != 0) {
            // The sector just past the kept part (or just before it) is damaged too.
            const uint32_t cut = prefix ? units[last_unit - 1].second : units[first_unit].first - 1;
            plan.keep_wild(di, d, w, cut, sector_mode == 2);
            out.tear += sector_mode == 2 ? ", sector " + std::to_string(cut) + " garbage"
                                         : ", sector " + std::to_string(cut) + " half written";
          }
        }
      }
      plan.outcomes_.push_back(std::move(out));
    }
  }
  return plan;
}

size_t CrashPlan::survivors() const {
  size_t n = 0;
  for (const WriteOutcome& o : outcomes_) n += o.fate != WriteFate::lost;
  return n;
}

std::string CrashPlan::describe(std::span<sim::SimDisk* const> disks) const {
  std::string s;
  for (size_t di = 0; di < disks.size(); ++di) {
    size_t total = 0, kept = 0;
    std::string torn;
    for (const WriteOutcome& o : outcomes_) {
      if (o.disk != di) continue;
      ++total;
      if (o.fate == WriteFate::lost) continue;
      ++kept;
      if (o.fate == WriteFate::torn) {
        const sim::PendingWrite& w = disks[di]->pending()[o.write];
        torn += (torn.empty() ? "" : ", ") + std::string("#") + std::to_string(o.write) + " (sector " +
                std::to_string(w.sector) + ") torn " + o.tear;
      }
    }
    if (!s.empty()) s += "; ";
    s += disks[di]->name() + ": " + std::to_string(kept) + " of " + std::to_string(total) +
         " cached writes kept";
    if (!torn.empty()) s += " (" + torn + ")";
  }
  return s;
}

}  // namespace thinsim::fault
