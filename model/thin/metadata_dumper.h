// thin_dump's job: walk valid metadata and emit it as a MetadataVisitor event stream
// (superblock, then each device with its mappings coalesced into runs), in the order and
// with the field choices of thin-provisioning-tools 0.9.0. Damage stops the walk with a
// DumpError; the walk never loops or recurses without bound on hostile input.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "model/pdata/block_device.h"
#include "model/thin/metadata_visitor.h"

namespace thinsim::thin {

class DumpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DumpOptions {
  // Dump the metadata snapshot the live superblock holds; a given `snap_location` must
  // name that same block (as with thin_dump -m BLOCK).
  bool metadata_snap = false;
  std::optional<uint64_t> snap_location;
  bool skip_mappings = false;
  std::set<uint64_t> dev_ids;  // empty: all devices
  // Reports metadata blocks read so far and the number in use, from time to time.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

void dump_metadata(pdata::BlockDevice& dev, const DumpOptions& options, MetadataVisitor& out);

}  // namespace thinsim::thin
