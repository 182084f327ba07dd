// thin_check's job: verify dm-thin metadata end to end. The superblock, the device
// details tree, the two-level mapping tree, the metadata snapshot and both space maps
// are walked; every metadata and data block's reference count is recomputed and
// compared with the space maps. Works on any input, however damaged, in time and
// memory linear in the metadata device.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "model/check/findings.h"
#include "model/pdata/block_device.h"
#include "model/thin/device_details.h"
#include "model/thin/superblock.h"

namespace thinsim::check {

struct CheckOptions {
  bool super_block_only = false;
  bool skip_mappings = false;
  // Check the metadata snapshot's trees (held_root) instead of the live ones; space
  // maps belong to the live metadata and are not checked.
  bool metadata_snap = false;
  std::optional<uint64_t> override_mapping_root;
  std::optional<uint64_t> override_details_root;
  // Reports blocks read so far and the number of metadata blocks in use (an estimate of
  // the total), from time to time.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct CheckResult {
  Findings findings;
  std::optional<thin::Superblock> superblock;  // the one checked (snapshot copy with -m)
  bool superblock_ok = false;
  bool looks_like_xml = false;
  uint64_t nr_devices = 0;
  uint64_t nr_mappings = 0;
  std::optional<uint64_t> metadata_free_blocks;  // from the space map comparison
  uint64_t blocks_read = 0;

  // Passes when nothing was found, or nothing fatal if non-fatal findings are ignored.
  bool passed(bool ignore_non_fatal) const {
    return findings.nr_fatal() == 0 && (ignore_non_fatal || findings.nr_non_fatal() == 0);
  }
};

CheckResult check_metadata(pdata::BlockDevice& dev, const CheckOptions& options);

// The check failed only because data blocks are counted as used that nothing maps
// (leaked): no fatal finding, every non-fatal one a data leak. The kernel opens such
// metadata (and leaves it so after a copy-on-write whose read failed); thin_check 0.9.0
// does not compare data reference counts, so it passes it.
bool only_data_leaks(const CheckResult& r);

// Wider: no fatal finding, every non-fatal one a data block counted more often than it
// is mapped (a leak, or a shared block with an extra reference). A passed-down discard
// holds its blocks so between its two halves.
bool only_data_excess(const CheckResult& r);

// thin_check --clear-needs-check-flag's write: NEEDS_CHECK cleared in block 0, its
// checksum rewritten, then a flush. The caller decides that the check allowed it.
void clear_needs_check_flag(pdata::BlockDevice& dev);

}  // namespace thinsim::check
