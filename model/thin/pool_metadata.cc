#include "model/thin/pool_metadata.h"

#include <algorithm>
#include <cstring>

#include "model/bugzoo/bug_switch.h"
#include "model/bugzoo/fault_point.h"
#include "model/pdata/error.h"
#include "model/thin/block_time.h"
#include "model/thin/format.h"

namespace thinsim::thin {

using namespace pdata;
using bugzoo::BugId;

namespace {

[[noreturn]] void fail(int err, const std::string& what) { throw PdataError(err, what); }

}  // namespace

PoolMetadata::PoolMetadata(BlockDevice& dev, const Options& options)
    : dev_(dev), cache_blocks_(options.cache_blocks), data_block_size_(options.data_block_size) {
  bm_ = std::make_unique<BlockManager>(dev_, cache_blocks_);
  open_or_format(options.format_device);
  begin_transaction();
  set_metadata_reserve();
}

PoolMetadata::~PoolMetadata() = default;

void PoolMetadata::setup_btree_info() {
  block_time_vt_ = std::make_unique<BlockTimeValueType>(*data_sm_, [this](const std::string& msg) { log(msg); });
  info_ = std::make_unique<BtreeInfo>(BtreeInfo{*tm_, 2, *block_time_vt_});
  bl_info_ = std::make_unique<BtreeInfo>(BtreeInfo{*tm_, 1, *block_time_vt_});
  subtree_vt_ = std::make_unique<SubtreeValueType>(
      *bl_info_, [this](const std::string& msg) { log(msg); });
  tl_info_ = std::make_unique<BtreeInfo>(BtreeInfo{*tm_, 1, *subtree_vt_});
  details_info_ = std::make_unique<BtreeInfo>(BtreeInfo{*tm_, 1, details_vt_});
}

void PoolMetadata::destroy_objects() {
  info_.reset();
  bl_info_.reset();
  tl_info_.reset();
  details_info_.reset();
  subtree_vt_.reset();
  block_time_vt_.reset();
  data_sm_.reset();
  metadata_sm_.reset();
  tm_.reset();
}

void PoolMetadata::open_or_format(bool format_device) {
  bool all_zero;
  {
    ReadRef r = bm_->read_lock(kSuperblockLocation, nullptr);
    all_zero = std::all_of(r.data(), r.data() + kMetadataBlockSize,
                           [](std::byte b) { return b == std::byte{0}; });
  }
  if (all_zero) {
    if (!format_device) fail(EPERM, "metadata device is unformatted and may not be formatted");
    format();
  } else {
    open_existing();
  }
}

void PoolMetadata::save_sm_roots() {
  // dm_sm_copy_root fails when the root does not fit; ours always fits, so only an armed
  // fault point makes it fail.
  if (bugzoo::fault_fires(bugzoo::FaultPoint::sm_copy_root))
    fail(ENOSPC, "space map root does not fit in the superblock (injected)");
  metadata_sm_root_.fill(std::byte{0});
  data_sm_root_.fill(std::byte{0});
  metadata_sm_->root().encode(metadata_sm_root_.data());
  data_sm_->root().encode(data_sm_root_.data());
}

void PoolMetadata::format() {
  auto mt = create_metadata_transaction(*bm_, kSuperblockLocation);
  tm_ = std::move(mt.tm);
  metadata_sm_ = std::move(mt.sm);
  data_sm_ = SpaceMapDisk::create(*tm_, 0);
  setup_btree_info();
  root_ = btree_empty(*info_);
  details_root_ = btree_empty(*details_info_);

  // The initial superblock.
  uint64_t dev_sectors = std::min<uint64_t>(dev_.nr_sectors(), kMetadataMaxSectors);
  data_sm_->commit();
  tm_->pre_commit();
  save_sm_roots();
  WriteRef sblock = bm_->write_lock_zero(kSuperblockLocation, &superblock_validator());
  Superblock sb;
  sb.magic = kSuperblockMagic;
  sb.version = kThinVersion;
  sb.data_space_map_root = data_sm_root_;
  sb.metadata_space_map_root = metadata_sm_root_;
  sb.data_mapping_root = root_;
  sb.device_details_root = details_root_;
  sb.metadata_block_size = kMetadataBlockSectors;
  sb.metadata_nr_blocks = dev_sectors >> kSectorToBlockShift;
  sb.data_block_size = data_block_size_;
  sb.encode(sblock.data());
  tm_->commit(std::move(sblock));
}

void PoolMetadata::open_existing() {
  ReadRef sblock = bm_->read_lock(kSuperblockLocation, &superblock_validator());
  Superblock sb = Superblock::decode(sblock.data());
  if (sb.data_block_size != data_block_size_)
    fail(EINVAL, "changing the data block size (from " + std::to_string(sb.data_block_size) +
                     " to " + std::to_string(data_block_size_) + ") is not supported");
  // The kernel supports no optional features at all.
  if (sb.incompat_flags)
    fail(EINVAL, "could not access metadata due to unsupported optional features (" +
                     std::to_string(sb.incompat_flags) + ").");
  if (sb.compat_ro_flags && !bm_->read_only())
    fail(EINVAL, "could not access metadata RDWR due to unsupported optional features (" +
                     std::to_string(sb.compat_ro_flags) + ").");
  auto mt = open_metadata_transaction(*bm_, sb.metadata_sm_root());
  tm_ = std::move(mt.tm);
  metadata_sm_ = std::move(mt.sm);
  data_sm_ = SpaceMapDisk::open(*tm_, sb.data_sm_root());
  root_ = sb.data_mapping_root;
  details_root_ = sb.device_details_root;
  held_root_ = sb.held_root;
  setup_btree_info();
}

void PoolMetadata::begin_transaction() {
  ReadRef sblock = bm_->read_lock(kSuperblockLocation, &superblock_validator());
  Superblock sb = Superblock::decode(sblock.data());
  time_ = sb.time;
  root_ = sb.data_mapping_root;
  details_root_ = sb.device_details_root;
  held_root_ = sb.held_root;
  trans_id_ = sb.trans_id;
  flags_ = sb.flags;
  data_block_size_ = sb.data_block_size;
}

void PoolMetadata::write_changed_details() {
  for (auto it = devices_.begin(); it != devices_.end();) {
    ThinDevice& td = *it;
    if (!td.changed) {
      ++it;
      continue;
    }
    std::byte v[DeviceDetails::kDiskSize];
    td.details.encode(v);
    uint64_t key = td.id;
    details_root_ = btree_insert(*details_info_, details_root_, std::span(&key, 1), v).new_root;
    if (td.open_count) {
      td.changed = false;
      ++it;
    } else {
      device_index_.erase(td.id);
      it = devices_.erase(it);
    }
  }
}

void PoolMetadata::commit_transaction() {
  // Nothing has used the pool since it was opened: leave the metadata untouched.
  // BZ-TM-07 reverts 873f258becca "dm thin metadata: do not write metadata if no changes
  // occurred": without the in_service test every commit and close rewrites the superblock.
  if (!in_service_ && !bugzoo::enabled(BugId::tm07_commit_when_not_in_service)) return;
  if (pre_commit_) pre_commit_();
  write_changed_details();
  data_sm_->commit();
  tm_->pre_commit();
  // BZ-TM-02 reverts 5a32083d03fb "dm: take care to copy the space map roots before
  // locking the superblock": the roots are copied into the locked, already updated
  // superblock, and a failed copy bails out leaving that half-written block dirty.
  const bool roots_after_lock = bugzoo::enabled(BugId::tm02_sm_roots_copied_after_superblock_lock);
  if (!roots_after_lock) save_sm_roots();

  WriteRef sblock = bm_->write_lock(kSuperblockLocation, &superblock_validator());
  Superblock sb = Superblock::decode(sblock.data());
  sb.time = time_;
  sb.data_mapping_root = root_;
  sb.device_details_root = details_root_;
  sb.held_root = held_root_;
  sb.trans_id = trans_id_;
  sb.flags = flags_;
  if (roots_after_lock) [[unlikely]] {
    sb.encode(sblock.data());
    save_sm_roots();  // throws with sblock still locked: unlocking marks it dirty
  }
  sb.data_space_map_root = data_sm_root_;
  sb.metadata_space_map_root = metadata_sm_root_;
  if (version_override_) sb.version = *version_override_;
  sb.encode(sblock.data());
  tm_->commit(std::move(sblock));
}

void PoolMetadata::set_metadata_reserve() {
  constexpr block_t kMaxReserve = 4096;  // 16 MiB
  metadata_reserve_ = std::min(kMaxReserve, metadata_sm_->nr_blocks() / 10);
}

void PoolMetadata::check_not_failed() const {
  if (fail_io_) fail(EINVAL, "pool metadata has failed");
}

void PoolMetadata::close() {
  unsigned open = 0;
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (it->open_count) {
      ++open;
      ++it;
    } else {
      device_index_.erase(it->id);
      it = devices_.erase(it);
    }
  }
  if (open)
    fail(EBUSY, "attempt to close pmd when " + std::to_string(open) +
                    " device(s) are still open");
  if (!fail_io_ && !bm_->read_only()) {
    try {
      commit_transaction();
    } catch (const PdataError& e) {
      log(std::string("dm_pool_metadata_close: __commit_transaction() failed: ") + e.what());
    }
  }
  destroy_objects();
  if (!fail_io_) {
    // Tearing down dm-bufio writes what is still dirty (drop_buffers): a NEEDS_CHECK-only
    // superblock update of a read-only pool reaches the disk here at the latest.
    bm_->reset();
  }
  bm_.reset();
}

// ---------------------------------------------------------------------------------------
// Devices

ThinDevice* PoolMetadata::find_open(ThinId dev) {
  auto it = device_index_.find(dev);
  return it == device_index_.end() ? nullptr : &*it->second;
}

ThinDevice& PoolMetadata::open_device(ThinId dev, bool create) {
  if (ThinDevice* td = find_open(dev)) {
    // May not create an already-open device.
    if (create) fail(EEXIST, "thin device " + std::to_string(dev) + " already exists");
    td->open_count++;
    return *td;
  }
  std::byte v[DeviceDetails::kDiskSize];
  uint64_t key = dev;
  ThinDevice td;
  td.id = dev;
  td.open_count = 1;
  if (btree_lookup(*details_info_, details_root_, std::span(&key, 1), v)) {
    td.details = DeviceDetails::decode(v);
  } else {
    if (!create) fail(ENODATA, "thin device " + std::to_string(dev) + " does not exist");
    td.changed = true;
    td.details = DeviceDetails{0, trans_id_, time_, time_};
  }
  devices_.push_front(td);
  device_index_[dev] = devices_.begin();
  return devices_.front();
}

ThinDevice& PoolMetadata::open_thin(ThinId dev) {
  check_not_failed();
  return open_device(dev, false);
}

void PoolMetadata::close_thin(ThinDevice& td) { td.open_count--; }

// __create_thin and __create_snap take only a lookup that succeeds for "exists": one that
// fails reading the details tree lets the creation go on (to fail, as a rule, where it
// next reads that tree, after the top-level tree has been shadowed and put back).
// A failed creation's way back: the kernel ignores what each undoing step returns and
// reports the failure that sent it back.
void PoolMetadata::undo(const std::function<void()>& step) {
  try {
    step();
  } catch (const PdataError& e) {
    log(std::string("undoing a failed creation: ") + e.what() + " (ignored)");
  }
}

bool PoolMetadata::device_exists(uint64_t key) {
  try {
    return btree_lookup(*details_info_, details_root_, std::span(&key, 1), nullptr);
  } catch (const PdataError&) {
    return false;
  }
}

void PoolMetadata::create_thin(ThinId dev) {
  mark_in_service();
  check_not_failed();
  uint64_t key = dev;
  // BZ-PM-13 (seed l): without this lookup an existing id is silently reused.
  if (!bugzoo::enabled(BugId::pm13_duplicate_device_id_accepted) && device_exists(key))
    fail(EEXIST, "thin device " + std::to_string(dev) + " already exists");

  block_t dev_root = btree_empty(*bl_info_);
  std::byte v[8];
  store_le64(v, dev_root);
  try {
    root_ = btree_insert(*tl_info_, root_, std::span(&key, 1), v).new_root;
  } catch (...) {
    undo([&] { btree_del(*bl_info_, dev_root); });
    throw;
  }
  try {
    ThinDevice& td = open_device(dev, true);
    close_thin(td);
  } catch (...) {
    undo([&] { root_ = btree_remove(*tl_info_, root_, std::span(&key, 1)); });
    undo([&] { btree_del(*bl_info_, dev_root); });
    throw;
  }
}

void PoolMetadata::create_snap(ThinId dev, ThinId origin) {
  mark_in_service();
  check_not_failed();
  uint64_t dev_key = dev, origin_key = origin;
  // BZ-PM-13 (seed l): without this lookup an existing id is silently reused.
  if (!bugzoo::enabled(BugId::pm13_duplicate_device_id_accepted) && device_exists(dev_key))
    fail(EEXIST, "thin device " + std::to_string(dev) + " already exists");
  std::byte v[8];
  if (!btree_lookup(*tl_info_, root_, std::span(&origin_key, 1), v))
    fail(ENODATA, "origin device " + std::to_string(origin) + " does not exist");
  block_t origin_root = load_le64(v);

  // The snapshot shares the origin's whole tree: a reference is all it takes.
  tm_->inc(origin_root);
  try {
    root_ = btree_insert(*tl_info_, root_, std::span(&dev_key, 1), v).new_root;
  } catch (...) {
    undo([&] { tm_->dec(origin_root); });
    throw;
  }
  time_++;
  try {
    ThinDevice& snap = open_device(dev, true);
    try {
      ThinDevice& td = open_device(origin, false);
      td.changed = true;
      td.details.snapshotted_time = time_;
      snap.details.mapped_blocks = td.details.mapped_blocks;
      snap.details.snapshotted_time = time_;
      close_thin(td);
    } catch (...) {
      close_thin(snap);
      throw;
    }
    close_thin(snap);
  } catch (...) {
    undo([&] { root_ = btree_remove(*tl_info_, root_, std::span(&dev_key, 1)); });
    // As in the kernel, the details were never written, so this removal finds nothing.
    undo([&] { details_root_ = btree_remove(*details_info_, details_root_, std::span(&dev_key, 1)); });
    throw;
  }
}

void PoolMetadata::delete_thin(ThinId dev) {
  mark_in_service();
  check_not_failed();
  ThinDevice& td = open_device(dev, false);
  if (td.open_count > 1) {
    close_thin(td);
    fail(EBUSY, "thin device " + std::to_string(dev) + " is open");
  }
  device_index_.erase(dev);
  devices_.remove_if([dev](const ThinDevice& d) { return d.id == dev; });
  uint64_t key = dev;
  details_root_ = btree_remove(*details_info_, details_root_, std::span(&key, 1));
  root_ = btree_remove(*tl_info_, root_, std::span(&key, 1));
}

void PoolMetadata::set_transaction_id(uint64_t current_id, uint64_t new_id) {
  mark_in_service();
  check_not_failed();
  if (trans_id_ != current_id) {
    log("mismatched transaction id");
    fail(EINVAL, "mismatched transaction id: current is " + std::to_string(trans_id_) +
                     ", not " + std::to_string(current_id));
  }
  trans_id_ = new_id;
}

uint64_t PoolMetadata::transaction_id() const {
  check_not_failed();
  return trans_id_;
}

void PoolMetadata::reserve_metadata_snap() {
  mark_in_service();
  check_not_failed();
  if (held_root_) {
    log("Pool metadata snapshot already exists: release this before taking another.");
    fail(EBUSY, "pool metadata snapshot already exists");
  }
  // Commit so the roots we are about to take references on are current.
  // BZ-TM-05 reverts 49e99fc717f6 "dm thin metadata: fix bug when taking a metadata
  // snapshot": no commit, so the copy pins the last committed roots while this
  // transaction has already shadowed (and freed) parts of those trees.
  if (!bugzoo::enabled(BugId::tm05_metadata_snap_without_commit)) commit_transaction();

  metadata_sm_->inc(kSuperblockLocation);
  ShadowResult copy;
  try {
    copy = tm_->shadow_block(kSuperblockLocation, superblock_validator());
  } catch (...) {
    metadata_sm_->dec(kSuperblockLocation);
    throw;
  }
  block_t held_root = copy.block.location();
  Superblock sb = Superblock::decode(copy.block.data());
  // The copy is not published with space maps.
  std::memset(copy.block.data() + sb_offset::data_sm_root, 0, 128);
  std::memset(copy.block.data() + sb_offset::metadata_sm_root, 0, 128);
  // Keep the trees the copy points at alive.
  tm_->inc(sb.data_mapping_root);
  tm_->inc(sb.device_details_root);
  copy.block.release();
  held_root_ = held_root;
}

void PoolMetadata::release_metadata_snap() {
  mark_in_service();
  check_not_failed();
  block_t held_root = held_root_;
  if (!held_root) {
    log("No pool metadata snapshot found: nothing to release.");
    fail(EINVAL, "no pool metadata snapshot found");
  }
  Superblock sb;
  {
    ReadRef copy = tm_->read_lock(held_root, superblock_validator());
    sb = Superblock::decode(copy.data());
  }
  held_root_ = 0;
  if (bugzoo::enabled(BugId::tm06_release_snap_only_decrements)) [[unlikely]] {
    // BZ-TM-06 reverts 7f518ad0a212 "dm thin metadata: delete btrees when releasing
    // metadata snapshot": one reference dropped on each root, nothing below them freed.
    metadata_sm_->dec(sb.data_mapping_root);
    metadata_sm_->dec(sb.device_details_root);
  } else {
    btree_del(*info_, sb.data_mapping_root);
    btree_del(*details_info_, sb.device_details_root);
  }
  metadata_sm_->dec(held_root);
}

block_t PoolMetadata::metadata_snap() const {
  check_not_failed();
  return held_root_;
}

// ---------------------------------------------------------------------------------------
// Mappings

std::optional<LookupResult> PoolMetadata::find_block_raw(ThinDevice& td, block_t block) {
  uint64_t keys[2] = {td.id, block};
  std::byte v[8];
  if (!btree_lookup(*info_, root_, keys, v)) return std::nullopt;
  BlockTime bt = unpack_block_time(load_le64(v));
  return LookupResult{bt.block, td.details.snapshotted_time > bt.time};
}

std::optional<LookupResult> PoolMetadata::find_block(ThinDevice& td, block_t block) {
  check_not_failed();
  return find_block_raw(td, block);
}

std::optional<MappedRange> PoolMetadata::find_mapped_range(ThinDevice& td, block_t begin,
                                                           block_t end) {
  check_not_failed();
  if (end < begin) return std::nullopt;
  uint64_t keys[2] = {td.id, begin};
  std::byte v[8];
  auto next = btree_lookup_next(*info_, root_, keys, v);
  if (!next || *next >= end) return std::nullopt;
  BlockTime bt = unpack_block_time(load_le64(v));
  MappedRange r{*next, 0, bt.block, td.details.snapshotted_time > bt.time};
  block_t b = *next + 1, pool_end = bt.block + 1;
  while (b != end) {
    auto l = find_block_raw(td, b);
    if (!l || l->block != pool_end || l->shared != r.maybe_shared) break;
    pool_end++;
    b++;
  }
  r.thin_end = b;
  return r;
}

void PoolMetadata::insert_raw(ThinDevice& td, block_t block, block_t data_block, uint32_t time) {
  uint64_t keys[2] = {td.id, block};
  std::byte v[8];
  store_le64(v, pack_block_time(data_block, time));
  InsertResult r = btree_insert(*info_, root_, keys, v);
  root_ = r.new_root;
  td.changed = true;
  if (r.inserted) td.details.mapped_blocks++;
}

void PoolMetadata::insert_block(ThinDevice& td, block_t block, block_t data_block) {
  mark_in_service();
  check_not_failed();
  insert_raw(td, block, data_block, time_);
}

void PoolMetadata::restore_insert(ThinDevice& td, block_t block, block_t data_block,
                                  uint32_t time) {
  mark_in_service();
  check_not_failed();
  insert_raw(td, block, data_block, time);
}

void PoolMetadata::restore_set_details(ThinDevice& td, const DeviceDetails& details) {
  mark_in_service();
  td.details = details;
  td.changed = true;
}

void PoolMetadata::remove_range(ThinDevice& td, block_t begin, block_t end) {
  mark_in_service();
  check_not_failed();
  uint64_t key = td.id;
  std::byte v[8];
  if (!btree_lookup(*tl_info_, root_, std::span(&key, 1), v))
    fail(ENODATA, "thin device " + std::to_string(td.id) + " has no mapping tree");
  block_t mapping_root = load_le64(v);

  // Detach the device's tree while we work on it, holding a reference so removing the
  // top-level entry does not delete it.
  tm_->inc(mapping_root);
  root_ = btree_remove(*tl_info_, root_, std::span(&key, 1));

  // remove_leaves stops at the first unmapped block, so walk the mapped runs.
  uint64_t total = 0;
  while (begin < end) {
    auto next = btree_lookup_next(*bl_info_, mapping_root, std::span(&begin, 1), v);
    if (!next) break;
    begin = *next;
    if (begin >= end) break;
    RemoveLeavesResult r = btree_remove_leaves(*bl_info_, mapping_root, std::span(&begin, 1), end);
    mapping_root = r.new_root;
    begin = r.next_key;
    total += r.nr_removed;
  }
  // BZ-PM-12 (seed i, 2012): the removed mappings are not subtracted.
  if (!bugzoo::enabled(BugId::pm12_mapped_blocks_not_decremented)) td.details.mapped_blocks -= total;
  td.changed = true;

  store_le64(v, mapping_root);
  root_ = btree_insert(*tl_info_, root_, std::span(&key, 1), v).new_root;
}

bool PoolMetadata::block_is_shared(block_t data_block) {
  check_not_failed();
  return data_sm_->get_count(data_block) > 1;
}

void PoolMetadata::inc_data_range(block_t b, block_t e) {
  mark_in_service();
  check_not_failed();
  data_sm_->inc_blocks(b, e);
}

void PoolMetadata::dec_data_range(block_t b, block_t e) {
  mark_in_service();
  check_not_failed();
  data_sm_->dec_blocks(b, e);
}

bool PoolMetadata::changed_this_transaction() const {
  return std::any_of(devices_.begin(), devices_.end(),
                     [](const ThinDevice& td) { return td.changed; });
}

block_t PoolMetadata::alloc_data_block() {
  mark_in_service();
  check_not_failed();
  return data_sm_->new_block();
}

// ---------------------------------------------------------------------------------------
// Transactions and sizes

void PoolMetadata::commit() {
  check_not_failed();
  commit_transaction();
  begin_transaction();
}

void PoolMetadata::abort() {
  check_not_failed();
  mark_in_service();
  for (ThinDevice& td : devices_) td.aborted_with_changes = td.changed;
  destroy_objects();
  try {
    // dm_pool_abort_metadata reopens through a new block manager, which is writable even
    // when the pool had made the old one read-only (out of metadata space, say).
    bm_->reset();
    bm_->set_read_only(false);
    open_or_format(false);
  } catch (...) {
    fail_io_ = true;
    throw;
  }
  // Like the kernel, only the roots are reloaded: time, transaction id and flags keep
  // their in-core values until the next begin_transaction.
}

block_t PoolMetadata::free_data_blocks() const {
  check_not_failed();
  return data_sm_->nr_free();
}

block_t PoolMetadata::free_metadata_blocks() const {
  check_not_failed();
  block_t free = metadata_sm_->nr_free();
  return free < metadata_reserve_ ? 0 : free - metadata_reserve_;
}

block_t PoolMetadata::metadata_dev_size() const {
  check_not_failed();
  return metadata_sm_->nr_blocks();
}

block_t PoolMetadata::data_dev_size() const {
  check_not_failed();
  return data_sm_->nr_blocks();
}

uint64_t PoolMetadata::mapped_count(const ThinDevice& td) const {
  check_not_failed();
  return td.details.mapped_blocks;
}

std::optional<block_t> PoolMetadata::highest_mapped_block(const ThinDevice& td) {
  check_not_failed();
  uint64_t key = td.id;
  std::byte v[8];
  if (!btree_lookup(*tl_info_, root_, std::span(&key, 1), v))
    fail(ENODATA, "thin device " + std::to_string(td.id) + " has no mapping tree");
  auto keys = btree_find_highest_key(*bl_info_, load_le64(v));
  if (keys.empty()) return std::nullopt;
  return keys[0];
}

namespace {

void resize_space_map(SpaceMap& sm, block_t new_count) {
  block_t old_count = sm.nr_blocks();
  if (new_count == old_count) return;
  if (new_count < old_count) throw PdataError(EINVAL, "cannot reduce size of space map");
  sm.extend(new_count - old_count);
}

}  // namespace

void PoolMetadata::resize_data_dev(block_t new_count) {
  mark_in_service();
  check_not_failed();
  resize_space_map(*data_sm_, new_count);
}

void PoolMetadata::resize_metadata_dev(block_t new_count) {
  mark_in_service();
  check_not_failed();
  resize_space_map(*metadata_sm_, new_count);
  set_metadata_reserve();
}

void PoolMetadata::set_read_only() { bm_->set_read_only(true); }
void PoolMetadata::set_read_write() { bm_->set_read_only(false); }

void PoolMetadata::register_metadata_threshold(block_t threshold, std::function<void()> fn) {
  check_not_failed();
  metadata_sm_->register_threshold(threshold, std::move(fn));
}

void PoolMetadata::set_needs_check() {
  mark_in_service();
  check_not_failed();
  flags_ |= kNeedsCheckFlag;
  WriteRef sblock = bm_->write_lock(kSuperblockLocation, &superblock_validator());
  store_le32(sblock.data() + sb_offset::flags, flags_);
}

bool PoolMetadata::needs_check() const { return flags_ & kNeedsCheckFlag; }

}  // namespace thinsim::thin
