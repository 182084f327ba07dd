// Every version each data-device sector has held during the run (content hashes, in IO
// order), so a recovered state's data can be judged without trusting the pool: a block
// the recovered commit maps must hold, in every sector, the version it had when that
// commit's superblock was written or one written after it; never an older one (lost
// data the commit relied on: the data device was not flushed first) and never bytes no
// write carried.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "fault/crash_plan.h"
#include "sim/sim_disk.h"

namespace thinsim::fault {

class DataHistory {
 public:
  void in_flight(sim::SimDisk& data, const sim::IoEvent& io);

  // Sectors with a history in [first, first + n), in order.
  template <class Fn>
  void for_each_touched(uint64_t first, uint64_t n, Fn fn) const {
    for (auto it = versions_.lower_bound(first); it != versions_.end() && it->first < first + n; ++it)
      fn(it->first);
  }
  // Whether sector `s`, holding content `hash` (from `survivor` when the crash kept a
  // cached write there, else durable), is allowed for a state recovered to the commit
  // whose superblock was written at IO `commit_seq`.
  bool allowed(uint64_t s, uint64_t commit_seq, uint64_t hash, const SurvivingSector* survivor) const;
  // Whether a discard reached the data device at an IO in (after, before).
  bool discarded_between(uint64_t after, uint64_t before) const;
  // "versions at IO 0 (initial), 17, 40 (wild)" for a difference report.
  std::string describe(uint64_t s) const;

 private:
  struct Version {
    uint64_t seq;
    uint64_t hash;  // 0: the sector as it was before any write
    bool wild;      // a discard with undefined semantics: anything may show
  };
  std::map<uint64_t, std::vector<Version>> versions_;
  std::vector<uint64_t> discards_;  // their IO numbers, ascending
};

}  // namespace thinsim::fault
