// Reference counting of the values in the dm-thin trees.
#pragma once

#include <functional>
#include <string>

#include "model/pdata/btree.h"
#include "model/pdata/space_map.h"

namespace thinsim::thin {

using ErrorSink = std::function<void(const std::string&)>;

// Bottom-level mapping values: the data block's count lives in the data space map, and
// two mappings are "equal" when they map the same data block (times are ignored).
class BlockTimeValueType final : public pdata::ValueType {
 public:
  // The kernel's data_block_inc and data_block_dec ignore what the space map returns for
  // each run (with_runs), so a damaged data space map does not stop a btree operation
  // halfway: with `on_error` set, a failed run goes to it and the next run is counted
  // (by default the error propagates).
  explicit BlockTimeValueType(pdata::SpaceMap& data_sm, ErrorSink on_error = {})
      : data_sm_(data_sm), on_error_(std::move(on_error)) {}
  uint32_t size() const override { return 8; }
  void inc(const std::byte* values, unsigned count) override;
  void dec(const std::byte* values, unsigned count) override;
  bool equal(const std::byte* a, const std::byte* b) const override;

 private:
  // Applies op to each run of consecutive data blocks the values map.
  void count_runs(const std::byte* values, unsigned count, const char* what,
                  void (pdata::SpaceMap::*op)(pdata::block_t, pdata::block_t));

  pdata::SpaceMap& data_sm_;
  ErrorSink on_error_;
};

// Top-level mapping values: roots of per-device trees. Copying one takes a reference on
// the subtree root; dropping one deletes the subtree (which just decrements it if shared).
class SubtreeValueType final : public pdata::ValueType {
 public:
  // The kernel logs a failed subtree delete and carries on; `on_error` receives the
  // message (by default the error propagates).
  explicit SubtreeValueType(pdata::BtreeInfo& bottom_level, ErrorSink on_error = {})
      : bottom_(bottom_level), on_error_(std::move(on_error)) {}
  uint32_t size() const override { return 8; }
  void inc(const std::byte* values, unsigned count) override;
  void dec(const std::byte* values, unsigned count) override;
  bool equal(const std::byte* a, const std::byte* b) const override;

 private:
  pdata::BtreeInfo& bottom_;
  ErrorSink on_error_;
};

}  // namespace thinsim::thin
