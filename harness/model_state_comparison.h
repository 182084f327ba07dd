// thinsim run --check-model, the pools' abstract state against the reference's after
// every step: mode, needs_check, transaction id, each active thin device's mappings and
// the sharing between them, used data blocks, and the contents of the blocks touched by
// IO (at the end, of every mapped block). Internal to the model check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/model_check_state.h"
#include "harness/model_translate.h"
#include "harness/scenario_runner.h"
#include "model/pool/pool.h"
#include "model/pool/thin_target.h"

namespace thinsim::harness::model_check {

class StateComparison {
 public:
  explicit StateComparison(MirrorState& state) : s_(state) {}

  // Every live pool's modes, mappings, sharing and space.
  Divergence compare_state(DmCore& dm);
  // Blocks written or discarded by IO that is in flight or finished in this step.
  Divergence compare_touched(DmCore& dm);
  // Every mapped block of every active thin device, at most 64 MiB of each device.
  Divergence compare_all_contents(DmCore& dm);

 private:
  struct Active {  // an active thin device of one pool
    std::string name;
    pool::ThinTarget* target;
    uint32_t dev;
  };

  // Virtual block -> data block, the first `limit` mappings.
  static std::map<uint64_t, uint64_t> pool_mappings(pool::Pool& p, pool::ThinTarget& t,
                                                    size_t limit = SIZE_MAX);

  Divergence compare_modes(const std::string& name, pool::Pool& p, ref::RefPool& r);
  Divergence compare_space(const std::string& name, pool::Pool& p, ref::RefPool& r);
  Divergence compare_mappings(pool::Pool& p, ref::RefPool& r, const std::vector<Active>& actives);
  std::vector<Active> actives_of(pool::Pool& p, DmCore& dm, Divergence& d);
  Divergence compare_block(DmCore& dm, const std::string& name, uint64_t v);

  MirrorState& s_;
};

}  // namespace thinsim::harness::model_check
