// RunCoalescer: turns a stream of single mappings of one device into maximal runs, exactly as
// thin_dump 0.9.0 groups them before printing (<single_mapping> for a run of one block,
// <range_mapping> otherwise).
//
// Rule (thin-provisioning/metadata_dumper.cc, mapping_emit_visitor, v0.9.0): a mapping extends the
// pending run iff its origin block is origin_begin + length, its data block is data_begin + length
// and its time equals the run's time. Anything else closes the pending run and starts a new one.
// Runs continue across btree leaf boundaries (the dumper sees one flat sequence per device) and the
// pending run is emitted when the device ends — call flush() before MetadataVisitor::end_device().
//
// The only deliberate difference: a run never wraps past data block 2^64-1 (0.9.0 would merge
// data block 2^64-1 with a following data block 0; on disk data blocks have 40 bits, so this
// cannot happen with real metadata).
#pragma once

#include <cstdint>

#include "model/thin/metadata_visitor.h"

namespace thinsim::thin {

class RunCoalescer {
 public:
  explicit RunCoalescer(MetadataVisitor& out) : out_(out) {}

  RunCoalescer(const RunCoalescer&) = delete;
  RunCoalescer& operator=(const RunCoalescer&) = delete;

  // One mapping; origins must ascend within a device (out-of-order input just starts new runs).
  void add(uint64_t origin, uint64_t data, uint32_t time) {
    if (pending_ && origin == next_origin_ && data == next_data_ && time == run_.time && data != 0 &&
        origin != 0) [[likely]] {
      ++run_.length;
      ++next_origin_;
      ++next_data_;
      return;
    }
    start(origin, data, time);
  }

  // A run that is already coalesced in part (length >= 1); merged with the pending run when it
  // continues it under the same rule.
  void add(const MappingRun& run);

  // Emits the pending run, if any. Call at the end of every device.
  void flush() {
    if (pending_) emit();
  }

  bool pending() const { return pending_; }

 private:
  void start(uint64_t origin, uint64_t data, uint32_t time);  // emits the pending run first
  void emit();

  MetadataVisitor& out_;
  MappingRun run_;
  uint64_t next_origin_ = 0;  // run_.origin_begin + run_.length (0 after wrapping)
  uint64_t next_data_ = 0;    // run_.data_begin + run_.length (0 after wrapping)
  bool pending_ = false;
};

}  // namespace thinsim::thin
