#include "sim/kernel/random_scenario.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <vector>

#include "harness/content_pattern.h"

namespace thinsim::kernel {

uint64_t random_case_seed(uint64_t campaign_seed, uint64_t index) {
  return harness::splitmix64_at(campaign_seed, index);
}

namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : seed_(seed) {}
  uint64_t next() { return harness::splitmix64_at(seed_, n_++); }
  uint64_t below(uint64_t n) { return next() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  uint64_t seed_;
  uint64_t n_ = 0;
};

constexpr uint64_t kBlockSectors = 128;  // 64 KiB data blocks
constexpr uint64_t kThinSectors = 4096;  // 32 blocks per thin device
constexpr unsigned kIds = 6;

}  // namespace

std::string random_scenario(uint64_t seed) {
  Rng r(seed);
  std::ostringstream s;
  const uint64_t data_blocks = 48 + 16 * r.below(4);  // 48..96: several devices run it out
  static const char* kFeatures[] = {"1 error_if_no_space", "2 error_if_no_space skip_block_zeroing",
                                    "2 error_if_no_space no_discard_passdown", "1 error_if_no_space"};
  const char* features = kFeatures[r.below(4)];
  const bool origin = r.chance(30);
  s << "# random oracle scenario, seed " << seed << "\n";
  s << "disk meta 4M\n";
  s << "disk data " << data_blocks * kBlockSectors << "s\n";
  if (origin) s << "disk origin 1M fill=seed:" << r.below(1000) << "\n";
  const std::string pool_table = "0 " + std::to_string(data_blocks * kBlockSectors) + " thin-pool meta data " +
                                 std::to_string(kBlockSectors) + " " + std::to_string(r.below(8)) + " " + features;
  s << "create pool \"" << pool_table << "\"\n";

  std::set<unsigned> ids;     // thin ids the pool has (as far as the generator knows)
  std::set<unsigned> active;  // ids with an active device t<id>
  uint64_t transaction = 0;
  bool metadata_snap = false;
  auto pick = [&](const std::set<unsigned>& from) -> unsigned {
    if (from.empty() || r.chance(10)) return static_cast<unsigned>(r.below(kIds));
    auto it = from.begin();
    std::advance(it, r.below(from.size()));
    return *it;
  };
  auto io_range = [&](std::ostringstream& o) {
    uint64_t start, len;
    if (r.chance(50)) {  // whole blocks
      start = r.below(kThinSectors / kBlockSectors) * kBlockSectors;
      len = kBlockSectors * (1 + r.below(3));
    } else {  // partial: any sectors within a block or across two
      start = r.below(kThinSectors);
      len = 1 + r.below(2 * kBlockSectors);
    }
    len = std::min(len, kThinSectors - start);
    o << start << "s " << len << "s";
  };
  // Start with a device to work on.
  s << "message pool 0 \"create_thin 0\"\n";
  s << "create t0 \"0 " << kThinSectors << " thin pool 0" << (origin ? " origin" : "") << "\"\n";
  ids.insert(0);
  active.insert(0);

  std::set<std::string> lying;    // disks whose cache ignores flushes
  std::set<std::string> failing;  // disks under an IO-error fault
  // A case either crashes (its disks are write logs in the guest) or sees IO errors.
  const bool power_cuts = r.chance(60);
  const unsigned steps = 10 + static_cast<unsigned>(r.below(16));
  for (unsigned n = 0; n < steps; ++n) {
    std::ostringstream o;
    if (!power_cuts && r.chance(4)) {
      // The metadata disk's writes fail (the next commit aborts: read-only, needs_check),
      // or every IO of the data disk does, until the clear.
      const std::string disk = r.chance(60) ? "meta" : "data";
      o << "fault " << disk << (failing.count(disk) ? " clear" : disk == "meta" ? " error write" : " error any");
      if (!failing.erase(disk)) failing.insert(disk);
      s << o.str() << "\n";
      continue;
    }
    if (power_cuts && r.chance(5)) {
      // A power cut, and the pool and its active devices back afterwards: the writes
      // since the last commit are what it cuts (messages commit, so the ids survive).
      const unsigned keep = static_cast<unsigned>(r.below(3));
      o << "crash" << (keep == 0 ? "" : keep == 1 ? " keep=all" : " keep=seed:" + std::to_string(r.below(1000)));
      o << "\ncreate pool \"" << pool_table << "\"";
      for (unsigned id : active)
        o << "\ncreate t" << id << " \"0 " << kThinSectors << " thin pool " << id
          << (origin && r.chance(40) ? " origin" : "") << "\"";
      s << o.str() << "\n";
      continue;
    }
    if (power_cuts && r.chance(3)) {
      const std::string disk = r.chance(50) ? "meta" : "data";
      o << "fault " << disk << (lying.count(disk) ? " clear" : " ignore-flush");
      if (!lying.erase(disk)) lying.insert(disk);
      s << o.str() << "\n";
      continue;
    }
    const unsigned what = static_cast<unsigned>(r.below(100));
    if (what < 10) {
      unsigned id = static_cast<unsigned>(r.below(kIds));
      o << "message pool 0 \"create_thin " << id << "\"";
      ids.insert(id);
    } else if (what < 20) {
      unsigned origin_id = pick(ids), id = static_cast<unsigned>(r.below(kIds));
      if (active.count(origin_id)) o << "suspend t" << origin_id << "\n";
      o << "message pool 0 \"create_snap " << id << " " << origin_id << "\"";
      if (active.count(origin_id)) o << "\nresume t" << origin_id;
      ids.insert(id);
    } else if (what < 24) {
      unsigned id = pick(ids);
      if (active.count(id)) {
        o << "remove t" << id << "\n";
        active.erase(id);
      }
      o << "message pool 0 \"delete " << id << "\"";
      ids.erase(id);
    } else if (what < 32) {
      unsigned id = pick(ids);
      if (active.count(id)) {
        o << "remove t" << id;
        active.erase(id);
      } else {
        o << "create t" << id << " \"0 " << kThinSectors << " thin pool " << id
          << (origin && r.chance(40) ? " origin" : "") << "\"";
        active.insert(id);
      }
    } else if (what < 62) {
      o << "write t" << pick(active) << " ";
      io_range(o);
      o << " seed:" << r.below(1000) << (r.chance(10) ? " fua" : "");
    } else if (what < 72) {
      o << "read t" << pick(active) << " ";
      io_range(o);
    } else if (what < 80) {
      o << "discard t" << pick(active) << " ";
      io_range(o);
    } else if (what < 84) {
      o << "flush t" << pick(active);
    } else if (what < 88) {
      o << "status pool";
    } else if (what < 90) {
      o << "status t" << pick(active);
    } else if (what < 94) {
      const bool right = r.chance(80);
      const uint64_t from = right ? transaction : transaction + 1;
      o << "message pool 0 \"set_transaction_id " << from << " " << from + 1 << "\"";
      if (right) ++transaction;
    } else if (what < 98) {
      o << "message pool 0 \"" << (metadata_snap ? "release_metadata_snap" : "reserve_metadata_snap") << "\"";
      metadata_snap = !metadata_snap;
    } else {
      o << "table pool";
    }
    s << o.str() << "\n";
  }
  s << "status pool\n";
  return s.str();
}

}  // namespace thinsim::kernel
