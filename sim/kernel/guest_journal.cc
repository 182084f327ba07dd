#include "sim/kernel/guest_journal.h"

#include <algorithm>

#include "sim/kernel/log_replay.h"

namespace thinsim::kernel {

using namespace harness;

namespace {

constexpr uint64_t kAlign = 1 << 20;
uint64_t align_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

std::string join(const std::vector<std::string>& cmds) {
  std::string s;
  for (const std::string& c : cmds) s += (s.empty() ? "" : " && ") + c;
  return s;
}

CrashChoice choice_of(const CrashCmd& c) {
  switch (c.keep) {
    case CrashKeep::all: return {KeepCached::all, 0};
    case CrashKeep::seeded: return {KeepCached::seeded, c.seed};
    case CrashKeep::none: break;
  }
  return {KeepCached::none, 0};
}

}  // namespace

std::string slice_table(uint64_t offset, uint64_t bytes) {
  return "0 " + std::to_string(bytes / 512) + " linear /dev/vda " + std::to_string(offset / 512);
}

void GuestJournal::lay_out(const OracleCase& oc, CaseLayout& lay, uint64_t& disks_bytes) {
  if (!oc.journaled()) return;
  // Room for everything the pool writes in a segment: the scenario's writes, their copies
  // and the metadata, with a wide margin (the slices are sparse).
  lay.log_bytes = align_up((256 << 20) + 8 * oc.write_bytes);
  for (const OracleDisk& d : oc.disks) {
    if (d.fill.kind() != ContentPattern::Kind::zero) {
      lay.initial_offset[d.name] = disks_bytes;
      disks_bytes = align_up(disks_bytes + d.max_sectors * 512 + 1);
    }
    for (size_t j = 0; j <= oc.crashes.size(); ++j) {
      lay.log_offset[d.name].push_back(disks_bytes);
      disks_bytes += lay.log_bytes;
    }
  }
}

std::string GuestJournal::start_log(const std::string& d, size_t j) const {
  return "dmctl create " + log_of(d, j) + " --table '" + slice_table(lay_.log_offset.at(d)[j], lay_.log_bytes) +
         "' && dmctl create " + g(d) + " --table '0 " + std::to_string(oc_.disk(d)->max_sectors) +
         " log-writes /dev/mapper/" + base_of(d) + " /dev/mapper/" + log_of(d, j) + "'";
}

std::string GuestJournal::make_disk(const std::string& disk, uint64_t sectors) const {
  std::vector<std::string> cmds{"dmctl create " + base_of(disk) + " --table '" +
                                slice_table(lay_.disk_offset.at(disk), sectors * 512) + "'"};
  if (lay_.initial_offset.count(disk))
    cmds.push_back("dmctl create " + initial_of(disk) + " --table '" +
                   slice_table(lay_.initial_offset.at(disk), sectors * 512) + "'");
  cmds.push_back(start_log(disk, 0));
  return join(cmds);
}

std::vector<std::string> GuestJournal::disk_parts(const std::string& disk) const {
  std::vector<std::string> parts;
  if (!oc_.journaled()) return parts;
  for (size_t j = 0; j <= oc_.crashes.size(); ++j) parts.push_back(log_of(disk, j));
  if (lay_.initial_offset.count(disk)) parts.push_back(initial_of(disk));
  parts.push_back(base_of(disk));
  return parts;
}

// The model's power cut visits the disks by name (DmCore keeps them in a map).
std::vector<std::string> GuestJournal::disks_by_name() const {
  std::vector<std::string> names;
  for (const OracleDisk& d : oc_.disks) names.push_back(d.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string GuestJournal::cut() const {
  std::string s = "dmctl cut";
  for (const std::string& n : disks_by_name()) s += " " + g(n);
  return s;
}

std::string GuestJournal::crash_rest() {
  const auto names = disks_by_name();
  // The pool and thin devices go, newest first; what their teardown writes is undone.
  std::string s = "{ ";
  for (auto it = oc_.devices.rbegin(); it != oc_.devices.rend(); ++it) s += "dmctl remove " + g(*it) + " 2>/dev/null; ";
  s += "true; }";
  for (const std::string& n : names) s += " && dmctl remove " + g(n);  // the logs close
  s += " && dmctl replay ";
  for (size_t j = 0; j <= segment_; ++j) s += (j ? "," : "") + to_string(choice_of(oc_.crashes.at(j)));
  for (const std::string& n : names) {
    s += " " + n + "=/dev/mapper/" + base_of(n) + ":" +
         (lay_.initial_offset.count(n) ? "/dev/mapper/" + initial_of(n) : std::string("zero")) + ":";
    for (size_t j = 0; j <= segment_; ++j) s += (j ? ",/dev/mapper/" : "/dev/mapper/") + log_of(n, j);
  }
  ++segment_;
  for (const std::string& n : names) s += " && " + start_log(n, segment_);
  return s;
}

std::string GuestJournal::fault(const std::string& step_id, const FaultCmd& f) {
  // A flip goes to the disk's base, past the journal: it is the media, not a write.
  const std::string media = "/dev/mapper/" + (oc_.journaled() ? base_of(f.name) : g(f.name));
  std::vector<std::string> cmds;
  switch (f.action) {
    case FaultAction::bit_flip: {
      auto& list = flips_[f.name];
      const std::string save = "/tmp/flip." + std::to_string(k_) + "." + f.name + "." + std::to_string(list.size()) +
                               "." + step_id;
      list.push_back({f.sector, f.count, save});
      cmds.push_back("dmctl flip " + media + " " + std::to_string(f.sector) + " " + std::to_string(f.count) + " " +
                     save);
      break;
    }
    case FaultAction::ignore_flush:
      // Without a crash a lying cache changes nothing anyone can see.
      if (oc_.journaled() && !lying_[f.name])
        cmds.push_back("dmctl message " + g(f.name) + " 0 'mark " + std::string(kMarkLie) + "'");
      lying_[f.name] = true;
      break;
    case FaultAction::clear: {
      auto& list = flips_[f.name];
      for (auto it = list.rbegin(); it != list.rend(); ++it)
        cmds.push_back("dmctl unflip " + media + " " + std::to_string(it->sector) + " " + std::to_string(it->bit) +
                       " " + it->save);
      list.clear();
      if (oc_.journaled() && lying_[f.name])
        cmds.push_back("dmctl message " + g(f.name) + " 0 'mark " + std::string(kMarkTruth) + "'");
      lying_[f.name] = false;
      break;
    }
    default: throw Untranslatable(std::string("fault ") + std::string(fault_action_name(f.action)));
  }
  return join(cmds);
}

}  // namespace thinsim::kernel
