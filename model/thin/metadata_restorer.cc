#include "model/thin/metadata_restorer.h"

#include <array>
#include <span>
#include <string>

#include "model/pdata/error.h"
#include "model/pdata/geometry.h"
#include "model/thin/format.h"

namespace thinsim::thin {

using namespace pdata;

namespace {

[[noreturn]] void reject(const std::string& what) { throw RestoreError(what); }

}  // namespace

MetadataRestorer::MetadataRestorer(BlockDevice& dev) : dev_(dev) {}

MetadataRestorer::~MetadataRestorer() = default;

void MetadataRestorer::begin_superblock(const SuperblockInfo& sb) {
  if (pmd_ || done_) reject("more than one superblock");
  if (!valid_data_block_size(sb.data_block_size))
    reject("data_block_size " + std::to_string(sb.data_block_size) +
           " is invalid: it must be a multiple of 128 sectors between 128 and 2097152");
  if (sb.nr_data_blocks > kMaxDataBlocks)
    reject("nr_data_blocks " + std::to_string(sb.nr_data_blocks) +
           " exceeds the 2^40 data blocks a mapping can address");
  // The superblock keeps a 32-bit time (mappings only keep its low 24 bits).
  if (sb.time > 0xffffffffu)
    reject("time " + std::to_string(sb.time) + " does not fit the superblock's 32 bits");
  if (sb.version && *sb.version != 1 && *sb.version != 2)
    reject("version " + std::to_string(*sb.version) + " is not a metadata version (1 or 2)");
  if (sb.flags && (*sb.flags & ~kNeedsCheckFlag))
    reject("flags " + std::to_string(*sb.flags) + " has bits other than NEEDS_CHECK (1)");
  if (sb.metadata_snap)
    reject("metadata_snap cannot be restored: the XML holds only the live trees, not the "
           "snapshot's (thin_restore 0.9.0 stores the number and so breaks the metadata)");
  if (dev_.nr_sectors() < 2 * kSectorsPerMetadataBlock)
    reject("the metadata device is too small (" + std::to_string(dev_.nr_sectors()) + " sectors)");

  // Start from an unformatted device: an all-zero superblock makes the model format it.
  std::array<std::byte, kMetadataBlockSize> zero{};
  dev_.write(0, std::span<const std::byte>(zero.data(), zero.size()));

  sb_ = sb;
  PoolMetadata::Options o;
  o.data_block_size = sb.data_block_size;
  o.format_device = true;
  pmd_ = std::make_unique<PoolMetadata>(dev_, o);
  pmd_->resize_data_dev(sb.nr_data_blocks);
  pmd_->restore_set_time(static_cast<uint32_t>(sb.time));
  pmd_->restore_set_flags(sb.flags.value_or(0));
  pmd_->restore_set_version(sb.version.value_or(kThinVersion));
  pmd_->set_transaction_id(0, sb.transaction);
}

void MetadataRestorer::begin_device(const DeviceInfo& dev) {
  if (!pmd_) reject("device outside a superblock");
  if (td_) reject("nested device");
  if (dev.dev_id > kMaxDeviceId)
    reject("dev_id " + std::to_string(dev.dev_id) + " exceeds the largest thin id (2^24 - 1)");
  if (dev.creation_time > 0xffffffffu || dev.snap_time > 0xffffffffu)
    reject("device " + std::to_string(dev.dev_id) + " has a time beyond 32 bits");
  try {
    pmd_->create_thin(dev.dev_id);
  } catch (const PdataError& e) {
    if (e.err() == EEXIST) reject("device " + std::to_string(dev.dev_id) + " appears twice");
    throw;
  }
  td_ = &pmd_->open_thin(dev.dev_id);
  current_ = dev;
}

void MetadataRestorer::mapping(const MappingRun& run) {
  if (!td_) reject("mapping outside a device");
  if (run.length == 0) reject("mapping run of length 0");
  if (run.time > kMaxTime)
    reject("mapping time " + std::to_string(run.time) + " does not fit 24 bits");
  if (run.data_begin >= sb_.nr_data_blocks || run.length > sb_.nr_data_blocks - run.data_begin)
    reject("device " + std::to_string(current_.dev_id) + " maps to data block " +
           std::to_string(run.data_begin + run.length - 1) + ", beyond nr_data_blocks " +
           std::to_string(sb_.nr_data_blocks));
  if (run.origin_begin + run.length < run.origin_begin)
    reject("mapping run wraps past the last virtual block");
  // Each mapping holds one reference on its data block.
  pmd_->inc_data_range(run.data_begin, run.data_begin + run.length);
  for (uint64_t i = 0; i < run.length; ++i)
    pmd_->restore_insert(*td_, run.origin_begin + i, run.data_begin + i, run.time);
  nr_mappings_ += run.length;
}

void MetadataRestorer::end_device() {
  if (!td_) reject("end of a device that was not begun");
  // Like thin_restore, the mapped block count is what was inserted, not what the XML
  // claims; the other details come from the XML.
  DeviceDetails d;
  d.mapped_blocks = td_->details.mapped_blocks;
  d.transaction_id = current_.transaction;
  d.creation_time = static_cast<uint32_t>(current_.creation_time);
  d.snapshotted_time = static_cast<uint32_t>(current_.snap_time);
  pmd_->restore_set_details(*td_, d);
  pmd_->close_thin(*td_);
  td_ = nullptr;
  // Closed devices leave memory at commit.
  if (++nr_devices_ % kDevicesPerCommit == 0) pmd_->commit();
}

void MetadataRestorer::end_superblock() {
  if (!pmd_) reject("end of a superblock that was not begun");
  if (td_) reject("superblock ended inside a device");
  pmd_->commit();
  pmd_->close();
  pmd_.reset();
  done_ = true;
}

}  // namespace thinsim::thin
