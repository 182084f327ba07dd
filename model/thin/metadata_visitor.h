// The event stream that connects metadata sources (an on-disk walk, an XML file) to
// metadata sinks (an XML writer, the restorer). It mirrors the structure of
// thin-provisioning-tools' XML: one superblock holding devices holding mapping runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace thinsim::thin {

struct SuperblockInfo {
  std::string uuid;
  uint64_t time = 0;
  uint64_t transaction = 0;
  std::optional<uint32_t> flags;    // absent on input means 0
  std::optional<uint32_t> version;  // absent on input means "writer's choice"
  uint32_t data_block_size = 0;     // sectors
  uint64_t nr_data_blocks = 0;
  std::optional<uint64_t> metadata_snap;
};

struct DeviceInfo {
  uint64_t dev_id = 0;
  uint64_t mapped_blocks = 0;
  uint64_t transaction = 0;
  uint64_t creation_time = 0;
  uint64_t snap_time = 0;
};

// Consecutive virtual blocks mapped to consecutive data blocks with one time stamp.
struct MappingRun {
  uint64_t origin_begin = 0;
  uint64_t data_begin = 0;
  uint64_t length = 0;  // >= 1
  uint32_t time = 0;
};

class MetadataVisitor {
 public:
  virtual ~MetadataVisitor() = default;
  virtual void begin_superblock(const SuperblockInfo& sb) = 0;
  virtual void end_superblock() = 0;
  virtual void begin_device(const DeviceInfo& dev) = 0;
  virtual void end_device() = 0;
  virtual void mapping(const MappingRun& run) = 0;
};

}  // namespace thinsim::thin
