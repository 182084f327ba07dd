#include "sim/kernel/log_replay.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <map>

#include "fault/crash_chooser.h"

namespace thinsim::kernel {

std::optional<CrashChoice> parse_crash_choice(std::string_view text) {
  if (text == "none") return CrashChoice{KeepCached::none, 0};
  if (text == "all") return CrashChoice{KeepCached::all, 0};
  if (text.substr(0, 5) != "seed:" || text.size() == 5) return std::nullopt;
  CrashChoice c{KeepCached::seeded, 0};
  auto [end, ec] = std::from_chars(text.data() + 5, text.data() + text.size(), c.seed);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return c;
}

std::string to_string(const CrashChoice& c) {
  switch (c.keep) {
    case KeepCached::none: return "none";
    case KeepCached::all: return "all";
    case KeepCached::seeded: return "seed:" + std::to_string(c.seed);
  }
  return "none";
}

namespace {

// Disjoint sector ranges, each with its source; a later assignment wins.
class SectorSources {
 public:
  void assign(uint64_t begin, uint64_t end, ReplaySource src) {
    if (begin >= end) return;
    split(begin);
    split(end);
    pieces_.erase(pieces_.lower_bound(begin), pieces_.lower_bound(end));
    pieces_.emplace(begin, Piece{end, src});
  }
  std::vector<ReplayPiece> take() const {
    std::vector<ReplayPiece> out;
    for (auto& [b, p] : pieces_) {
      if (!out.empty() && out.back().end == b && continues(out.back(), p.src)) {
        out.back().end = p.end;
        continue;
      }
      out.push_back({b, p.end, p.src});
    }
    return out;
  }

 private:
  struct Piece {
    uint64_t end;
    ReplaySource src;
  };
  // Cuts the piece holding `at` in two there.
  void split(uint64_t at) {
    auto it = pieces_.upper_bound(at);
    if (it == pieces_.begin()) return;
    --it;
    if (it->first == at || it->second.end <= at) return;
    Piece right = it->second;
    if (right.src.kind == ReplaySource::Kind::log) right.src.offset += (at - it->first) * 512;
    it->second.end = at;
    pieces_.emplace(at, right);
  }
  static bool continues(const ReplayPiece& left, const ReplaySource& next) {
    if (left.source.kind != next.kind) return false;
    if (next.kind != ReplaySource::Kind::log) return true;
    return left.source.segment == next.segment &&
           left.source.offset + (left.end - left.begin) * 512 == next.offset;
  }
  std::map<uint64_t, Piece> pieces_;
};

struct Range {
  uint64_t begin, end;
};

bool overlaps(const std::vector<Range>& rs, uint64_t b, uint64_t e) {
  for (const Range& r : rs)
    if (r.begin < e && b < r.end) return true;
  return false;
}

// Replays one disk's log of one segment into `map`: what became durable, then the crash's
// choice of what was still cached. `lying` carries over from segment to segment.
void replay_segment(SectorSources& map, const DiskLogs& disk, uint32_t seg, const CrashChoice& choice,
                    fault::SeededChooser& chooser, bool& lying) {
  const auto& log = disk.segments[seg];
  auto apply = [&](const WriteLogEntry& e) {
    map.assign(e.sector, e.sector + e.nr_sectors,
               e.is_discard() ? ReplaySource{ReplaySource::Kind::zero, 0, 0}
                              : ReplaySource{ReplaySource::Kind::log, seg, e.data_offset});
  };
  // The cached writes, each with the flush batch it came into the log with: the target
  // logs a flush's unflushed writes in completion order, which for a commit's metadata
  // writes (dm-bufio submits them all, then waits) varies from run to run. The model's
  // block manager issues them in ascending block order, so on a metadata disk each batch
  // is put in that order before the crash decides on them.
  struct Cached {
    const WriteLogEntry* e;
    size_t batch;
  };
  std::vector<Cached> cached;
  size_t batch = 0;
  std::vector<Range> epoch_fua;  // FUA writes since the last honoured flush
  bool precrash = false, crashed = false;
  for (size_t n = 0; n < log.size() && !crashed; ++n) {
    const WriteLogEntry& e = log[n];
    if (e.is_mark()) {
      if (e.mark == kMarkLie) lying = true;
      else if (e.mark == kMarkTruth) lying = false;
      else if (e.mark == kMarkPrecrash) precrash = true;
      else if (e.mark == kMarkCrash) crashed = true;
      continue;
    }
    // The flush the crash itself issued only brings the cache into the log.
    const bool honoured = !lying && !precrash;
    if (e.is_flush() && honoured) {
      for (const Cached& c : cached) apply(*c.e);
      cached.clear();
      epoch_fua.clear();
    }
    if (e.is_flush()) ++batch;
    if (e.nr_sectors == 0) continue;
    if (e.is_fua() && !e.is_discard()) {
      epoch_fua.push_back({e.sector, e.sector + e.nr_sectors});
      if (honoured) {
        apply(e);
        continue;
      }
    } else if (overlaps(epoch_fua, e.sector, e.sector + e.nr_sectors)) {
      // It waited in the target's unflushed list, so the log does not say whether it
      // completed before or after that FUA write: which one the disk holds is unknown.
      throw ReplayError(disk.name + ": log " + std::to_string(seg) + " entry " + std::to_string(n) +
                        ": a cached write to sectors " + std::to_string(e.sector) + "+" +
                        std::to_string(e.nr_sectors) +
                        " that a FUA write of the same flush epoch also wrote; the log cannot order them");
    }
    cached.push_back({&e, batch});
  }
  if (!crashed)
    throw ReplayError(disk.name + ": log " + std::to_string(seg) +
                      " has no crash mark (the log device ran out of space, or the mark was never sent)");
  if (disk.metadata)
    std::stable_sort(cached.begin(), cached.end(), [](const Cached& a, const Cached& b) {
      return a.batch != b.batch ? a.batch < b.batch : a.e->sector < b.e->sector;
    });
  for (const Cached& c : cached) {
    const bool keep = choice.keep == KeepCached::all ||
                      (choice.keep == KeepCached::seeded && chooser.choose(2) == 1);
    if (keep) apply(*c.e);
  }
}

}  // namespace

std::vector<std::vector<ReplayPiece>> plan_replay(const std::vector<DiskLogs>& disks,
                                                  const std::vector<CrashChoice>& crashes) {
  std::vector<SectorSources> maps(disks.size());
  for (size_t d = 0; d < disks.size(); ++d) {
    if (disks[d].segments.size() != crashes.size())
      throw ReplayError(disks[d].name + ": " + std::to_string(disks[d].segments.size()) + " logs for " +
                        std::to_string(crashes.size()) + " crashes");
    // Every sector any entry names is restored, to its initial contents unless a durable
    // write says otherwise: what a log holds after its crash mark (the teardown) is undone.
    for (const auto& log : disks[d].segments)
      for (const WriteLogEntry& e : log)
        if (!e.is_mark() && e.nr_sectors) maps[d].assign(e.sector, e.sector + e.nr_sectors, {});
  }
  std::vector<bool> lying(disks.size(), false);
  for (uint32_t s = 0; s < crashes.size(); ++s) {
    fault::SeededChooser chooser(crashes[s].seed);  // one per crash, as ScenarioRunner::crash
    for (size_t d = 0; d < disks.size(); ++d) {
      bool l = lying[d];
      replay_segment(maps[d], disks[d], s, crashes[s], chooser, l);
      lying[d] = l;
    }
  }
  std::vector<std::vector<ReplayPiece>> out;
  out.reserve(maps.size());
  for (auto& m : maps) out.push_back(m.take());
  return out;
}

}  // namespace thinsim::kernel
