// An IO request to a thin device, as the thin target sees it after dm core has split it
// at data-block boundaries. Completion is reported through end_io, possibly much later
// (bios queued while the pool is out of data space).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/pdata/block_device.h"

namespace thinsim::pool {

enum class BioOp { read, write, discard, flush };

struct Bio {
  BioOp op = BioOp::read;
  uint64_t sector = 0;      // on the thin device
  uint64_t nr_sectors = 0;  // 0 for an empty flush
  bool fua = false;
  std::vector<std::byte> data;  // the payload of a write; filled by a read
  // Called exactly once with 0 or a positive errno.
  std::function<void(Bio&, int err)> end_io;

  // Where the target sent the bio (remap): the data device or the external origin, and
  // how many sectors go there (a read straddling the origin's end is cut short and the
  // rest zero-filled).
  pdata::BlockDevice* remapped_dev = nullptr;
  uint64_t remapped_sector = 0;
  uint64_t remapped_nr_sectors = 0;

  bool is_write() const { return op == BioOp::write || op == BioOp::flush; }  // bio_data_dir
  bool is_flush() const { return op == BioOp::flush || fua; }                 // op_is_flush
  uint64_t end_sector() const { return sector + nr_sectors; }
  void complete(int err) {
    if (end_io) end_io(*this, err);
  }
};

// Performs the IO of a remapped bio on its device and completes it (generic_make_request
// of the remapped bio); a device error completes it with EIO.
void submit_remapped(Bio& bio);

using BioPtr = std::unique_ptr<Bio>;

}  // namespace thinsim::pool
