// Reference counting of the values in the dm-thin trees.
#pragma once

#include <functional>
#include <string>

#include "model/pdata/btree.h"
#include "model/pdata/space_map.h"

namespace thinsim::thin {

// Bottom-level mapping values: the data block's count lives in the data space map, and
// two mappings are "equal" when they map the same data block (times are ignored).
class BlockTimeValueType final : public pdata::ValueType {
 public:
  explicit BlockTimeValueType(pdata::SpaceMap& data_sm) : data_sm_(data_sm) {}
  uint32_t size() const override { return 8; }
  void inc(const std::byte* values, unsigned count) override;
  void dec(const std::byte* values, unsigned count) override;
  bool equal(const std::byte* a, const std::byte* b) const override;

 private:
  pdata::SpaceMap& data_sm_;
};

// Top-level mapping values: roots of per-device trees. Copying one takes a reference on
// the subtree root; dropping one deletes the subtree (which just decrements it if shared).
class SubtreeValueType final : public pdata::ValueType {
 public:
  // The kernel logs a failed subtree delete and carries on; `on_error` receives the
  // message (by default the error propagates).
  using ErrorSink = std::function<void(const std::string&)>;
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
