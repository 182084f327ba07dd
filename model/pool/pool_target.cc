#include "model/pool/pool_target.h"

#include <algorithm>
#include <cerrno>
#include <strings.h>

#include "model/bugzoo/bug_switch.h"
#include "model/pdata/error.h"
#include "model/pool/target_error.h"
#include "model/thin/format.h"

namespace thinsim::pool {

using pdata::PdataError;

uint64_t metadata_dev_size_in_blocks(const pdata::BlockDevice& dev) {
  return std::min<uint64_t>(dev.nr_sectors(), thin::kMetadataMaxSectors) /
         thin::kMetadataBlockSectors;
}

PoolTarget::PoolTarget(PoolRegistry& registry, const std::string& pool_md, uint64_t len,
                       const PoolTableArgs& args, uint64_t now_ms)
    : args_(args), len_(len) {
  bool created = false;
  pool_ = registry.find_or_create(pool_md, *args.metadata_dev, *args.data_dev, args.block_size,
                                  args.features.mode == PoolMode::read_only, now_ms, created);
  // Discard support of the thins is fixed when they are loaded.
  if (!created && args.features.discard_enabled != pool_->features().discard_enabled)
    throw TargetError(EINVAL, "Discard support cannot be disabled once enabled");
  requested_pf = adjusted_pf = args.features;
  Pool* pool = pool_.get();
  try {
    pool_->pmd().register_metadata_threshold(metadata_threshold(), [pool] {
      pool->log(pool->name() + ": reached low water mark for metadata device: sending event.");
      pool->table_event();
    });
  } catch (const PdataError& e) {
    throw TargetError(e.err(), "Error registering metadata threshold");
  }
  // Data must be on disk before the metadata that maps it.
  // BZ-DS-08 reverts 694cfe7f31db "dm thin: Flush data device before committing
  // metadata": the commit goes ahead with the data device's cache unflushed.
  pool_->pmd().register_pre_commit([pool] {
    if (!bugzoo::enabled(bugzoo::BugId::ds08_no_data_flush_before_commit)) pool->data_dev().flush();
  });
}

PoolTarget::~PoolTarget() { pool_->unbind(*this); }

uint64_t PoolTarget::metadata_threshold() const {
  return std::min<uint64_t>(1024, metadata_dev_size_in_blocks(*args_.metadata_dev) / 4);
}

// ---------------------------------------------------------------------------------------
// Resume: bind and resize

void PoolTarget::maybe_resize_data_dev(bool& need_commit) {
  Pool& pool = *pool_;
  uint64_t data_size = len_ / pool.sectors_per_block();
  uint64_t sb_data_size = pool.pmd().data_dev_size();
  if (data_size < sb_data_size) {
    pool.log(pool.name() + ": pool target (" + std::to_string(data_size) +
             " blocks) too small: expected " + std::to_string(sb_data_size));
    throw TargetError(EINVAL, "pool target too small");
  }
  if (data_size == sb_data_size) return;
  if (pool.pmd().needs_check()) {
    pool.log(pool.name() + ": unable to grow the data device until repaired.");
    return;
  }
  if (sb_data_size)
    pool.log(pool.name() + ": growing the data device from " + std::to_string(sb_data_size) +
             " to " + std::to_string(data_size) + " blocks");
  try {
    pool.pmd().resize_data_dev(data_size);
  } catch (const PdataError& e) {
    pool.metadata_operation_failed("dm_pool_resize_data_dev", e.err());
    throw TargetError(e.err(), "dm_pool_resize_data_dev failed");
  }
  need_commit = true;
}

void PoolTarget::maybe_resize_metadata_dev(bool& need_commit) {
  Pool& pool = *pool_;
  uint64_t dev_size = metadata_dev_size_in_blocks(*args_.metadata_dev);
  uint64_t sb_size = pool.pmd().metadata_dev_size();
  if (dev_size < sb_size) {
    pool.log(pool.name() + ": metadata device (" + std::to_string(dev_size) +
             " blocks) too small: expected " + std::to_string(sb_size));
    throw TargetError(EINVAL, "metadata device too small");
  }
  if (dev_size == sb_size) return;
  if (pool.pmd().needs_check()) {
    pool.log(pool.name() + ": unable to grow the metadata device until repaired.");
    return;
  }
  if (args_.metadata_dev->nr_sectors() > thin::kMetadataMaxSectors)
    pool.log("Metadata device is larger than " + std::to_string(thin::kMetadataMaxSectors) +
             " sectors: excess space will not be used.");
  pool.log(pool.name() + ": growing the metadata device from " + std::to_string(sb_size) +
           " to " + std::to_string(dev_size) + " blocks");
  if (pool.mode() == PoolMode::out_of_metadata_space) pool.set_mode(PoolMode::write);
  try {
    pool.pmd().resize_metadata_dev(dev_size);
  } catch (const PdataError& e) {
    pool.metadata_operation_failed("dm_pool_resize_metadata_dev", e.err());
    throw TargetError(e.err(), "dm_pool_resize_metadata_dev failed");
  }
  need_commit = true;
}

void PoolTarget::preresume() {
  pool_->bind(*this);
  try {
    bool c1 = false, c2 = false;
    maybe_resize_data_dev(c1);
    maybe_resize_metadata_dev(c2);
    if (c1 || c2) (void)pool_->commit();
  } catch (const TargetError&) {
    // A failed pool must still resume so that its queued IO can be errored.
    if (pool_->mode() != PoolMode::fail) throw;
  }
}

// ---------------------------------------------------------------------------------------
// Messages

bool PoolTarget::check_arg_count(const std::vector<std::string>& argv, size_t required) {
  if (argv.size() == required) return true;
  pool_->log("Message received with " + std::to_string(argv.size()) + " arguments instead of " +
             std::to_string(required) + ".");
  return false;
}

std::optional<uint64_t> PoolTarget::dev_id_arg(const std::string& s) {
  auto id = read_dev_id(s);
  if (!id) pool_->log("Message received with invalid device id: " + s);
  return id;
}

int PoolTarget::message_create_thin(const std::vector<std::string>& argv) {
  if (!check_arg_count(argv, 2)) return EINVAL;
  auto id = dev_id_arg(argv[1]);
  if (!id) return EINVAL;
  try {
    pool_->pmd().create_thin(*id);
  } catch (const PdataError& e) {
    pool_->log("Creation of new thinly-provisioned device with id " + argv[1] + " failed.");
    return e.err();
  }
  return 0;
}

int PoolTarget::message_create_snap(const std::vector<std::string>& argv) {
  if (!check_arg_count(argv, 3)) return EINVAL;
  auto id = dev_id_arg(argv[1]);
  if (!id) return EINVAL;
  auto origin = dev_id_arg(argv[2]);
  if (!origin) return EINVAL;
  try {
    pool_->pmd().create_snap(*id, *origin);
  } catch (const PdataError& e) {
    pool_->log("Creation of new snapshot " + argv[1] + " of device " + argv[2] + " failed.");
    return e.err();
  }
  return 0;
}

int PoolTarget::message_delete(const std::vector<std::string>& argv) {
  if (!check_arg_count(argv, 2)) return EINVAL;
  auto id = dev_id_arg(argv[1]);
  if (!id) return EINVAL;
  try {
    pool_->pmd().delete_thin(*id);
  } catch (const PdataError& e) {
    pool_->log("Deletion of thin device " + argv[1] + " failed.");
    return e.err();
  }
  return 0;
}

int PoolTarget::message_set_transaction_id(const std::vector<std::string>& argv) {
  if (!check_arg_count(argv, 3)) return EINVAL;
  auto old_id = kstrtoull(argv[1]);
  if (!old_id) {
    pool_->log("set_transaction_id message: Unrecognised id " + argv[1] + ".");
    return EINVAL;
  }
  auto new_id = kstrtoull(argv[2]);
  if (!new_id) {
    pool_->log("set_transaction_id message: Unrecognised new id " + argv[2] + ".");
    return EINVAL;
  }
  try {
    pool_->pmd().set_transaction_id(*old_id, *new_id);
  } catch (const PdataError& e) {
    pool_->log("Failed to change transaction id from " + argv[1] + " to " + argv[2] + ".");
    return e.err();
  }
  return 0;
}

int PoolTarget::message_reserve_metadata_snap(const std::vector<std::string>& argv) {
  if (!check_arg_count(argv, 1)) return EINVAL;
  // BZ-TM-05 also reverts the precursor 0d200aefd4ac "dm thin: commit metadata before
  // creating metadata snapshot".
  if (!bugzoo::enabled(bugzoo::BugId::tm05_metadata_snap_without_commit)) (void)pool_->commit();
  try {
    pool_->pmd().reserve_metadata_snap();
  } catch (const PdataError& e) {
    pool_->log("reserve_metadata_snap message failed.");
    return e.err();
  }
  return 0;
}

int PoolTarget::message_release_metadata_snap(const std::vector<std::string>& argv) {
  if (!check_arg_count(argv, 1)) return EINVAL;
  try {
    pool_->pmd().release_metadata_snap();
  } catch (const PdataError& e) {
    pool_->log("release_metadata_snap message failed.");
    return e.err();
  }
  return 0;
}

int PoolTarget::message(const std::vector<std::string>& argv) {
  if (pool_->mode() >= PoolMode::out_of_metadata_space) {
    pool_->log(pool_->name() +
               ": unable to service pool target messages in READ_ONLY or FAIL mode");
    return EOPNOTSUPP;
  }
  if (argv.empty()) return EINVAL;  // dm core: "Empty message received."
  const char* m = argv[0].c_str();
  int r = EINVAL;
  if (!strcasecmp(m, "create_thin")) r = message_create_thin(argv);
  else if (!strcasecmp(m, "create_snap")) r = message_create_snap(argv);
  else if (!strcasecmp(m, "delete")) r = message_delete(argv);
  else if (!strcasecmp(m, "set_transaction_id")) r = message_set_transaction_id(argv);
  else if (!strcasecmp(m, "reserve_metadata_snap")) r = message_reserve_metadata_snap(argv);
  else if (!strcasecmp(m, "release_metadata_snap")) r = message_release_metadata_snap(argv);
  else pool_->log("Unrecognised thin pool target message received: " + argv[0]);
  if (!r) (void)pool_->commit();
  return r;
}

// ---------------------------------------------------------------------------------------
// Status

std::string PoolTarget::status_info(bool noflush, bool suspended) {
  Pool& pool = *pool_;
  if (pool.mode() == PoolMode::fail) return "Fail";
  // Commit so that the statistics are up to date.
  if (!noflush && !suspended) (void)pool.commit();
  std::string s;
  try {
    thin::PoolMetadata& pmd = pool.pmd();
    uint64_t meta_total = pmd.metadata_dev_size(), meta_free = pmd.free_metadata_blocks();
    uint64_t data_total = pmd.data_dev_size(), data_free = pmd.free_data_blocks();
    uint64_t held = pmd.metadata_snap();
    s = std::to_string(pmd.transaction_id()) + " " + std::to_string(meta_total - meta_free) + "/" +
        std::to_string(meta_total) + " " + std::to_string(data_total - data_free) + "/" +
        std::to_string(data_total) + " ";
    s += held ? std::to_string(held) + " " : "- ";
  } catch (const PdataError&) {
    return "Error";
  }
  PoolMode mode = pool.mode();
  const PoolFeatures& pf = pool.features();
  s += mode == PoolMode::out_of_data_space ? "out_of_data_space "
       : is_read_only_mode(mode)           ? "ro "
                                           : "rw ";
  s += !pf.discard_enabled    ? "ignore_discard "
       : pf.discard_passdown  ? "discard_passdown "
                              : "no_discard_passdown ";
  s += pf.error_if_no_space ? "error_if_no_space " : "queue_if_no_space ";
  s += pool.pmd().needs_check() ? "needs_check " : "- ";
  s += std::to_string(metadata_threshold()) + " ";
  return s;
}

std::string PoolTarget::status_table() const {
  // The pool's block size: a reload cannot change it and the kernel prints the pool's.
  return args_.metadata_name + " " + args_.data_name + " " +
         std::to_string(pool_->sectors_per_block()) +
         " " + std::to_string(args_.low_water_blocks) + " " + emit_flags(requested_pf);
}

}  // namespace thinsim::pool
