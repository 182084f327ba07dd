// thin_restore's job: build metadata from a MetadataVisitor event stream (usually the XML
// reader) through the pool metadata model, so restored metadata has exactly the layout
// the kernel's own code would give it. Mappings stream straight into the btrees; only
// the devices of the current batch are held in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>

#include "model/pdata/block_device.h"
#include "model/thin/metadata_visitor.h"
#include "model/thin/pool_metadata.h"

namespace thinsim::thin {

// Input that cannot be restored (the message says what and where in the stream).
class RestoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MetadataRestorer final : public MetadataVisitor {
 public:
  explicit MetadataRestorer(pdata::BlockDevice& dev);
  ~MetadataRestorer() override;

  void begin_superblock(const SuperblockInfo& sb) override;
  void end_superblock() override;
  void begin_device(const DeviceInfo& dev) override;
  void end_device() override;
  void mapping(const MappingRun& run) override;

  uint64_t nr_devices() const { return nr_devices_; }
  uint64_t nr_mappings() const { return nr_mappings_; }

  // Devices restored between intermediate commits (bounds in-core device state).
  static constexpr uint64_t kDevicesPerCommit = 4096;

 private:
  pdata::BlockDevice& dev_;
  std::unique_ptr<PoolMetadata> pmd_;
  SuperblockInfo sb_;
  ThinDevice* td_ = nullptr;
  DeviceInfo current_;
  uint64_t nr_devices_ = 0;
  uint64_t nr_mappings_ = 0;
  bool done_ = false;
};

}  // namespace thinsim::thin
