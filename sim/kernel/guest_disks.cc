#include "sim/kernel/guest_disks.h"

#include <algorithm>

#include "sim/kernel/log_replay.h"

namespace thinsim::kernel {

using namespace harness;

namespace {

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

void GuestDisks::lay_out(const OracleCase& oc, CaseLayout& lay, uint64_t& disks_bytes) {
  if (!oc.journaled()) return;
  // Room for everything the pool writes in a segment: the scenario's writes, their copies
  // and the metadata, with a wide margin (the slices are sparse).
  lay.log_bytes = align_to_slice((256 << 20) + 8 * oc.write_bytes);
  for (const OracleDisk& d : oc.disks) {
    if (d.fill.kind() != ContentPattern::Kind::zero) {
      lay.initial_offset[d.name] = disks_bytes;
      disks_bytes = align_to_slice(disks_bytes + d.max_sectors * 512 + 1);
    }
    for (size_t j = 0; j <= oc.crashes.size(); ++j) {
      lay.log_offset[d.name].push_back(disks_bytes);
      disks_bytes += lay.log_bytes;
    }
  }
}

GuestDisks::Commands GuestDisks::start_log(const std::string& d, size_t j) const {
  return {"dmctl create " + log_of(d, j) + " --table '" + slice_table(lay_.log_offset.at(d)[j], lay_.log_bytes) + "'",
          "dmctl create " + g(d) + " --table '0 " + std::to_string(oc_.disk(d)->max_sectors) + " log-writes /dev/mapper/" +
              base_of(d) + " /dev/mapper/" + log_of(d, j) + "'"};
}

// An IO-error fault is dm-flakey over the same slice, always down (up 0 s, down 1 s):
// with error_writes every write, flush and discard fails and reads pass; with no
// feature every IO fails.
std::string GuestDisks::table(const std::string& d) const {
  const uint64_t sectors = sectors_.at(d);
  if (served(d)) return "0 " + std::to_string(sectors) + " linear /tmp/nbd/" + g(d) + " 0";
  auto f = failing_.find(d);
  if (f == failing_.end()) return slice_table(lay_.disk_offset.at(d), sectors * 512);
  return "0 " + std::to_string(sectors) + " flakey /dev/vda " + std::to_string(lay_.disk_offset.at(d) / 512) +
         " 0 1" + (f->second.empty() ? "" : " " + f->second);
}

GuestDisks::Commands GuestDisks::reload(const std::string& d) const {
  return {"dmctl suspend " + g(d), "dmctl reload " + g(d) + " --table '" + table(d) + "'", "dmctl resume " + g(d)};
}

GuestDisks::Commands GuestDisks::make_disk(const std::string& disk, uint64_t sectors) {
  sectors_[disk] = sectors;
  if (served(disk)) {
    // The daemon serves the slice at its largest; the disk's own table has its size now.
    Commands cmds{"dmctl create " + media_of(disk) + " --table '" +
                      slice_table(lay_.disk_offset.at(disk), oc_.disk(disk)->max_sectors * 512) + "'",
                  "dmctl serve " + g(disk) + " /dev/mapper/" + media_of(disk)};
    cmds.push_back(sectors == 0 ? "dmctl create " + g(disk) + " --notable"
                                : "dmctl create " + g(disk) + " --table '" + table(disk) + "'");
    return cmds;
  }
  if (!oc_.journaled()) {
    if (sectors == 0) return {"dmctl create " + g(disk) + " --notable"};
    return {"dmctl create " + g(disk) + " --table '" + table(disk) + "'"};
  }
  Commands cmds{"dmctl create " + base_of(disk) + " --table '" + slice_table(lay_.disk_offset.at(disk), sectors * 512) +
                "'"};
  if (lay_.initial_offset.count(disk))
    cmds.push_back("dmctl create " + initial_of(disk) + " --table '" +
                   slice_table(lay_.initial_offset.at(disk), sectors * 512) + "'");
  for (std::string& c : start_log(disk, 0)) cmds.push_back(std::move(c));
  return cmds;
}

GuestDisks::Commands GuestDisks::resize(const std::string& disk, uint64_t sectors) {
  sectors_[disk] = sectors;  // prepare_case refuses a resize in a case that crashes
  return reload(disk);
}

GuestDisks::Commands GuestDisks::remove_disk(const std::string& disk) const {
  Commands cmds{"dmctl try remove " + g(disk)};
  if (served(disk)) {
    cmds.push_back("dmctl try unserve " + g(disk));
    cmds.push_back("dmctl try remove " + media_of(disk));
  }
  if (!oc_.journaled()) return cmds;
  for (size_t j = 0; j <= oc_.crashes.size(); ++j) cmds.push_back("dmctl try remove " + log_of(disk, j));
  if (lay_.initial_offset.count(disk)) cmds.push_back("dmctl try remove " + initial_of(disk));
  cmds.push_back("dmctl try remove " + base_of(disk));
  return cmds;
}

// The model's power cut visits the disks by name (DmCore keeps them in a map).
std::vector<std::string> GuestDisks::disks_by_name() const {
  std::vector<std::string> names;
  for (const OracleDisk& d : oc_.disks) names.push_back(d.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string GuestDisks::cut() const {
  std::string s = "dmctl cut";
  for (const std::string& n : disks_by_name()) s += " " + g(n);
  return s;
}

GuestDisks::Commands GuestDisks::crash_rest() {
  const auto names = disks_by_name();
  // The pool and thin devices go, newest first, those there are; what their teardown
  // writes is undone.
  Commands cmds;
  for (auto it = oc_.devices.rbegin(); it != oc_.devices.rend(); ++it) cmds.push_back("dmctl try remove " + g(*it));
  for (const std::string& n : names) cmds.push_back("dmctl remove " + g(n));  // the logs close
  std::string replay = "dmctl replay ";
  for (size_t j = 0; j <= segment_; ++j) replay += (j ? "," : "") + to_string(choice_of(oc_.crashes.at(j)));
  for (const std::string& n : names) {
    replay += " " + n + "=/dev/mapper/" + base_of(n) + ":" +
              (lay_.initial_offset.count(n) ? "/dev/mapper/" + initial_of(n) : std::string("zero")) + ":";
    for (size_t j = 0; j <= segment_; ++j) replay += (j ? ",/dev/mapper/" : "/dev/mapper/") + log_of(n, j);
    if (oc_.is_metadata_disk(n)) replay += ":meta";
  }
  cmds.push_back(replay);
  ++segment_;
  for (const std::string& n : names)
    for (std::string& c : start_log(n, segment_)) cmds.push_back(std::move(c));
  return cmds;
}

// A served disk's fault is the model's own, in the daemon (served_disk.h).
GuestDisks::Commands GuestDisks::served_fault(const FaultCmd& f) {
  std::string line;
  switch (f.action) {
    case FaultAction::io_error: {
      const fault::IoFaultRule& r = *f.rule;
      line = "error " + fault::ops_to_string(r.ops) + " " + std::to_string(r.after) + " " +
             (r.count ? std::to_string(*r.count) : std::string("-")) + " " + std::to_string(r.error);
      break;
    }
    case FaultAction::bit_flip: line = "flip " + std::to_string(f.sector) + " " + std::to_string(f.count); break;
    case FaultAction::latent_error: line = "latent " + std::to_string(f.sector) + " " + std::to_string(f.count); break;
    case FaultAction::lost_writes: line = "lose " + std::to_string(f.count); break;
    case FaultAction::misdirected_writes:
      line = "misdirect " + std::to_string(f.count) + " " + std::to_string(f.delta_sectors);
      break;
    case FaultAction::clear: line = "clear"; break;
    case FaultAction::ignore_flush: return {};  // a served disk is not journaled: nothing to see
  }
  return {"dmctl fault " + g(f.name) + " '" + line + "'"};
}

GuestDisks::Commands GuestDisks::fault(const std::string& step_id, const FaultCmd& f) {
  if (served(f.name)) return served_fault(f);
  // A flip goes to the disk's slice of /dev/vda, past any table (a log, flakey): it is the
  // media, not a write.
  const uint64_t base = lay_.disk_offset.at(f.name) / 512;
  auto flip = [&](const char* verb, uint64_t sector, uint64_t bit, const std::string& save) {
    return std::string("dmctl ") + verb + " /dev/vda " + std::to_string(base + sector) + " " + std::to_string(bit) +
           " " + save;
  };
  Commands cmds;
  switch (f.action) {
    case FaultAction::bit_flip: {
      auto& list = flips_[f.name];
      const std::string save = "/tmp/flip." + std::to_string(k_) + "." + f.name + "." + std::to_string(list.size()) +
                               "." + step_id;
      list.push_back({f.sector, f.count, save});
      cmds.push_back(flip("flip", f.sector, f.count, save));
      break;
    }
    case FaultAction::ignore_flush:
      // Without a crash a lying cache changes nothing anyone can see.
      if (oc_.journaled() && !lying_[f.name])
        cmds.push_back("dmctl message " + g(f.name) + " 0 'mark " + std::string(kMarkLie) + "'");
      lying_[f.name] = true;
      break;
    case FaultAction::io_error:
      // prepare_case lets through only what flakey does exactly: every IO, or every
      // write, flush and discard (or a metadata disk's writes: it gets no discards, and
      // flushes only after the writes of a commit), until clear, with EIO.
      failing_[f.name] = (f.rule->ops & fault::kRead) ? "" : "1 error_writes";
      return reload(f.name);
    case FaultAction::clear: {
      if (failing_.erase(f.name)) cmds = reload(f.name);
      auto& list = flips_[f.name];
      for (auto it = list.rbegin(); it != list.rend(); ++it) cmds.push_back(flip("unflip", it->sector, it->bit, it->save));
      list.clear();
      if (oc_.journaled() && lying_[f.name])
        cmds.push_back("dmctl message " + g(f.name) + " 0 'mark " + std::string(kMarkTruth) + "'");
      lying_[f.name] = false;
      break;
    }
    default: throw Untranslatable(std::string("fault ") + std::string(fault_action_name(f.action)));
  }
  return cmds;
}

}  // namespace thinsim::kernel
