// The dm-thin pool metadata (dm-thin-metadata.c): superblock, device details, the
// two-level mapping tree, both space maps and the transaction protocol, over a metadata
// BlockDevice. The kernel's operations keep the kernel's names and semantics; a few
// operations that only offline tools perform (restoring explicit times and details)
// are marked as such.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/pdata/block_device.h"
#include "model/pdata/space_map_disk.h"
#include "model/pdata/space_map_metadata.h"
#include "model/thin/device_details.h"
#include "model/thin/superblock.h"
#include "model/thin/value_types.h"

namespace thinsim::thin {

using ThinId = uint64_t;
using pdata::block_t;

class PoolMetadata;

// An open thin device (dm_thin_device): the in-core copy of its details.
struct ThinDevice {
  ThinId id = 0;
  int open_count = 0;
  bool changed = false;
  bool aborted_with_changes = false;
  DeviceDetails details;
};

struct LookupResult {
  block_t block;  // data block
  bool shared;    // the mapping is older than the device's last snapshot
};

struct MappedRange {
  block_t thin_begin, thin_end;  // [begin, end) of virtual blocks
  block_t pool_begin;            // data block of thin_begin
  bool maybe_shared;
};

class PoolMetadata {
 public:
  struct Options {
    uint32_t data_block_size = 128;  // sectors; must match an existing superblock
    bool format_device = true;       // format an all-zero superblock
    size_t cache_blocks = pdata::BlockManager::kDefaultCacheBlocks;
  };

  // dm_pool_metadata_open. Throws PdataError (EPERM for an unformatted device that may
  // not be formatted, EINVAL for a block-size mismatch or unsupported features, ...).
  PoolMetadata(pdata::BlockDevice& dev, const Options& options);
  ~PoolMetadata();
  PoolMetadata(const PoolMetadata&) = delete;
  PoolMetadata& operator=(const PoolMetadata&) = delete;

  // dm_pool_metadata_close: commits unless failed or read-only. Throws EBUSY while thin
  // devices are open.
  void close();

  // Device management (messages).
  void create_thin(ThinId dev);
  void create_snap(ThinId dev, ThinId origin);
  void delete_thin(ThinId dev);
  void set_transaction_id(uint64_t current_id, uint64_t new_id);
  uint64_t transaction_id() const;
  void reserve_metadata_snap();
  void release_metadata_snap();
  block_t metadata_snap() const;

  ThinDevice& open_thin(ThinId dev);
  void close_thin(ThinDevice& td);

  // The mapping interface of the thin target.
  std::optional<LookupResult> find_block(ThinDevice& td, block_t block);
  std::optional<MappedRange> find_mapped_range(ThinDevice& td, block_t begin, block_t end);
  void insert_block(ThinDevice& td, block_t block, block_t data_block);
  void remove_range(ThinDevice& td, block_t begin, block_t end);
  bool block_is_shared(block_t data_block);
  void inc_data_range(block_t b, block_t e);
  void dec_data_range(block_t b, block_t e);
  bool changed_this_transaction(const ThinDevice& td) const { return td.changed; }
  bool changed_this_transaction() const;
  bool aborted_changes(const ThinDevice& td) const { return td.aborted_with_changes; }
  block_t alloc_data_block();

  void commit();
  // Discards this transaction by reopening from the last committed superblock.
  void abort();

  block_t free_data_blocks() const;
  block_t free_metadata_blocks() const;  // excludes the reserve
  block_t metadata_dev_size() const;     // blocks
  block_t data_dev_size() const;         // data blocks
  uint64_t mapped_count(const ThinDevice& td) const;
  std::optional<block_t> highest_mapped_block(const ThinDevice& td);

  void resize_data_dev(block_t new_count);
  void resize_metadata_dev(block_t new_count);

  void set_read_only();
  void set_read_write();
  void register_metadata_threshold(block_t threshold, std::function<void()> fn);
  void register_pre_commit(std::function<void()> fn) { pre_commit_ = std::move(fn); }
  void set_needs_check();
  bool needs_check() const;
  bool failed() const { return fail_io_; }
  uint32_t time() const { return time_; }
  uint32_t data_block_size() const { return data_block_size_; }

  // Offline-tool operations (thin_restore): explicit times and details.
  void restore_insert(ThinDevice& td, block_t block, block_t data_block, uint32_t time);
  void restore_set_details(ThinDevice& td, const DeviceDetails& details);
  void restore_set_time(uint32_t time) { mark_in_service(), time_ = time; }
  void restore_set_flags(uint32_t flags) { mark_in_service(), flags_ = flags; }
  void restore_set_version(uint32_t version) { mark_in_service(), version_override_ = version; }
  size_t nr_thin_devices_in_core() const { return devices_.size(); }

  // Messages like the kernel's DMERR/DMWARN, in order.
  const std::vector<std::string>& log() const { return log_; }

 private:
  void open_or_format(bool format_device);
  void format();
  void open_existing();
  void begin_transaction();
  void commit_transaction();
  void write_changed_details();
  void destroy_objects();
  void setup_btree_info();
  void set_metadata_reserve();
  void check_not_failed() const;
  void mark_in_service() { in_service_ = true; }
  ThinDevice& open_device(ThinId dev, bool create);
  ThinDevice* find_open(ThinId dev);
  std::optional<LookupResult> find_block_raw(ThinDevice& td, block_t block);
  void insert_raw(ThinDevice& td, block_t block, block_t data_block, uint32_t time);
  void save_sm_roots();
  bool device_exists(uint64_t key);  // for create_thin and create_snap
  void undo(const std::function<void()>& step);
  void log(const std::string& msg) { log_.push_back(msg); }

  pdata::BlockDevice& dev_;
  size_t cache_blocks_;
  std::unique_ptr<pdata::BlockManager> bm_;
  std::unique_ptr<pdata::TransactionManager> tm_;
  std::unique_ptr<pdata::SpaceMapMetadata> metadata_sm_;
  std::unique_ptr<pdata::SpaceMapDisk> data_sm_;

  // Value types and tree descriptions (dm_btree_info): info = both levels,
  // tl = top level only, bl = one device's tree, details = device details.
  std::unique_ptr<BlockTimeValueType> block_time_vt_;
  std::unique_ptr<SubtreeValueType> subtree_vt_;
  pdata::PlainValueType details_vt_{DeviceDetails::kDiskSize};
  std::unique_ptr<pdata::BtreeInfo> info_, tl_info_, bl_info_, details_info_;

  uint32_t time_ = 0;
  block_t root_ = 0;
  block_t details_root_ = 0;
  block_t held_root_ = 0;
  uint64_t trans_id_ = 0;
  uint32_t flags_ = 0;
  uint32_t data_block_size_;
  std::optional<uint32_t> version_override_;
  block_t metadata_reserve_ = 0;
  bool fail_io_ = false;
  bool in_service_ = false;
  std::function<void()> pre_commit_;
  std::array<std::byte, 128> data_sm_root_{};
  std::array<std::byte, 128> metadata_sm_root_{};

  // Open or changed devices, most recently added first (the kernel's list order, which
  // decides the order details are written back at commit).
  std::list<ThinDevice> devices_;
  std::unordered_map<ThinId, std::list<ThinDevice>::iterator> device_index_;
  std::vector<std::string> log_;
};

}  // namespace thinsim::thin
