// What a host does first after a power cut, as a scenario to explore a second crash in:
// reactivate the pool over the recovered disks, provision a block in a new thin device,
// flush (a commit), delete the device (another commit) and tear the pool down. Every
// IO of it is a crash point: the two commits run on space maps and trees the first
// crash left behind, so a recovered state that passes the check but cannot take a
// crash-safe transaction shows there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/scenario_ast.h"

namespace thinsim::fault {

struct RecoveryDisk {
  std::string name;
  uint64_t sectors = 0;
  harness::ContentPattern fill;  // what the disk held before the scenario wrote to it
};

// The thin device id the workload creates: the largest dm-thin accepts (24 bits), which
// scenarios do not use.
inline constexpr uint64_t kRecoveryThinId = (1u << 24) - 1;

// The pool is named "recovered_pool" and the thin "recovered_thin"; the disks keep their
// names, so pool_table (the scenario's own thin-pool line) refers to them unchanged.
// One data block (data_block_sectors) is written.
harness::Scenario recovery_scenario(const std::vector<RecoveryDisk>& disks, const harness::TableLine& pool_table,
                                    uint32_t data_block_sectors);

}  // namespace thinsim::fault
