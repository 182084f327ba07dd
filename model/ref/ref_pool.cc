// Messages, modes, space accounting, commits and time. The IO paths are in ref_pool_io.cc.
#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <utility>

#include "model/ref/ref_pool.h"

namespace thinsim::ref {

namespace {
constexpr uint64_t kMaxDevId = (uint64_t{1} << 24) - 1;
}  // namespace

RefPool::RefPool(PoolParams params) : params_(std::move(params)) {
  if (params_.block_sectors == 0) throw std::invalid_argument("ref: zero data block size");
  state_.data_blocks = params_.data_blocks;
  state_.metadata_blocks = metadata_device_blocks_ = params_.metadata_blocks;
  committed_ = state_;
  error_if_no_space_ = params_.error_if_no_space;
  if (params_.read_only) set_mode(Mode::read_only);
}

// ---- Messages (pool_message: mode check first, then the arguments)

int RefPool::refused(uint64_t dev) const {
  if (mode_ >= Mode::out_of_metadata_space) return EOPNOTSUPP;
  return dev > kMaxDevId ? EINVAL : 0;
}

// Past the mode and id checks a message reaches the metadata under pmd_write_lock, which
// marks it in service even when the operation then fails (EEXIST, say).
int RefPool::begin_message(uint64_t dev) {
  if (int r = refused(dev)) return r;
  in_service_ = true;
  return 0;
}

// pool_message only commits: IO the commit requeues (space found) waits for the worker,
// which runs on the next waker tick or when other IO wakes it.
int RefPool::message_done() {
  commit();
  return 0;
}

int RefPool::create_thin(uint64_t dev) {
  if (int r = begin_message(dev)) return r;
  if (state_.devices.contains(dev)) return EEXIST;
  state_.devices[dev].snapshotted_time = time_;
  core_[dev] = DeviceCore{};
  core_[dev].changed = true;
  return message_done();
}

int RefPool::create_snap(uint64_t dev, uint64_t origin) {
  if (int r = begin_message(std::max(dev, origin))) return r;
  if (state_.devices.contains(dev)) return EEXIST;
  auto it = state_.devices.find(origin);
  if (it == state_.devices.end()) return ENODATA;
  // The kernel shares the origin's tree; a copy of the map with one more reference on
  // every data block is the same thing. Both sides now see their blocks as snapshotted.
  it->second.snapshotted_time = ++time_;
  for (const auto& [block, m] : it->second.blocks) ++state_.refs[m.token];
  state_.devices[dev] = it->second;
  core_[dev] = DeviceCore{};
  core_[dev].changed = true;
  core_[origin].changed = true;
  return message_done();
}

int RefPool::delete_thin(uint64_t dev) {
  if (int r = begin_message(dev)) return r;
  auto it = state_.devices.find(dev);
  if (it == state_.devices.end()) return ENODATA;
  if (core_[dev].opens) return EBUSY;
  for (const auto& [block, m] : it->second.blocks) unref(m.token, false);
  state_.devices.erase(it);
  core_.erase(dev);
  return message_done();
}

int RefPool::set_transaction_id(uint64_t current, uint64_t next) {
  if (int r = begin_message(0)) return r;
  if (current != transaction_id_) return EINVAL;
  transaction_id_ = next;
  return message_done();
}

int RefPool::reserve_metadata_snap() {
  if (int r = refused(0)) return r;
  // The message commits first; a failed commit leaves the metadata read-only, so the
  // reservation's own commit (which makes the snapshot hold the current roots) is EPERM.
  const bool committed = commit();
  in_service_ = true;  // dm_pool_reserve_metadata_snap takes pmd_write_lock
  if (state_.metadata_snap) return EBUSY;
  if (!committed) return EPERM;
  // That commit found nothing to write if the metadata was not in service yet; the
  // reservation's own commit then writes the superblock, and a failure there only fails
  // the message (no abort: process_reserve_metadata_snap_mesg just warns).
  if (commit_fails()) return EIO;
  state_.metadata_snap = true;
  for (const auto& [token, n] : state_.refs) state_.snap.insert(token);
  return message_done();
}

int RefPool::release_metadata_snap() {
  if (int r = begin_message(0)) return r;
  if (!state_.metadata_snap) return EINVAL;
  state_.metadata_snap = false;
  // Allocated at the last commit (in the snapshot at least): free, allocatable after a commit.
  for (uint64_t t : state_.snap_only) pending_.insert(t);
  state_.snap.clear();
  state_.snap_only.clear();
  return message_done();
}

int RefPool::open(uint64_t dev, std::optional<ExternalOrigin> origin) {
  // thin_ctr's order: id, fail mode, the device itself, and only then a suspended pool.
  if (dev > kMaxDevId || mode_ == Mode::fail) return EINVAL;
  if (!state_.devices.contains(dev)) return ENODATA;
  if (suspended_) return EINVAL;
  DeviceCore& c = core_[dev];
  ++c.opens;
  if (origin) c.origin = std::move(origin);
  return 0;
}

void RefPool::close(uint32_t dev) {
  DeviceCore& c = core_.at(dev);
  if (c.opens == 0) throw std::logic_error("ref: close of a thin device that is not open");
  --c.opens;
}

// ---- Modes (set_pool_mode)

void RefPool::set_mode(Mode next) {
  const Mode old = mode_;
  if (next == Mode::write && needs_check_) next = old != Mode::write ? old : Mode::read_only;
  if (old == Mode::fail) next = Mode::fail;  // only offline repair leaves it
  switch (next) {
    case Mode::write:
      if (old == Mode::out_of_data_space) no_space_deadline_.reset();
      out_of_data_space_ = false;
      error_if_no_space_ = params_.error_if_no_space;
      break;
    case Mode::out_of_data_space:
      out_of_data_space_ = true;
      // queue_delayed_work: a timer already pending keeps its deadline.
      if (!error_if_no_space_ && params_.no_space_timeout_ms && !no_space_deadline_)
        no_space_deadline_ = now_ + params_.no_space_timeout_ms;
      break;
    default:  // read-only, out of metadata space, fail: queued IO can never run
      error_queued(out_of_data_space_ ? ENOSPC : EIO);
  }
  mode_ = next;
}

std::string_view RefPool::mode_word() const {
  switch (mode_) {
    case Mode::write: return "rw";
    case Mode::out_of_data_space: return "out_of_data_space";
    case Mode::fail: return "Fail";
    default: return "ro";
  }
}

void RefPool::set_needs_check() {
  in_service_ = true;
  needs_check_ = true;
  needs_check_unwritten_ = true;  // set in the cached superblock only
  set_mode(Mode::read_only);
}

void RefPool::enter_out_of_metadata_space() {
  if (mode_ != Mode::read_only && mode_ != Mode::out_of_metadata_space)
    set_mode(Mode::out_of_metadata_space);
}

void RefPool::enter_fail_mode() { set_mode(Mode::fail); }

// ---- Table loads, suspend and resume (pool_preresume, pool_resume, pool_postsuspend)

// bind_control_target: the table's features replace the ones the pool runs with (so a
// timed-out error_if_no_space is dropped) and its mode is requested again. A new table
// asks for the mode its features name; a table bound before asks for the pool's current
// mode, as set_pool_mode keeps the bound table's adjusted mode in step.
void RefPool::bind(Mode requested) {
  error_if_no_space_ = params_.error_if_no_space;
  set_mode(requested);
}


// maybe_resize_data_dev, maybe_resize_metadata_dev and the commit of pool_preresume.
int RefPool::preresume(uint64_t data_blocks) {
  // Both against the size the metadata last committed (dm_pool_get_data_dev_size).
  if (data_blocks < committed_.data_blocks) return EINVAL;  // "pool target too small"
  bool grew = false;
  if (data_blocks > committed_.data_blocks && !needs_check_) {
    state_.data_blocks = data_blocks;
    grew = true;
  }
  const uint64_t md = metadata_device_blocks_;
  if (md && md < state_.metadata_blocks) return EINVAL;  // "metadata device too small"
  if (md > state_.metadata_blocks && !needs_check_) {
    // maybe_resize_metadata_dev leaves out-of-metadata-space for write mode first.
    if (mode_ == Mode::out_of_metadata_space) set_mode(Mode::write);
    state_.metadata_blocks = md;
    grew = true;
  }
  if (grew) commit();
  return 0;
}

void RefPool::finish_resume() {
  suspended_ = false;
  requeue();
  low_water_armed_ = true;
  run_worker();  // pool_resume runs do_waker at once, then every period
  next_tick_ = now_ + kCommitPeriodMs;
}

void RefPool::suspend() {
  suspended_ = true;
  no_space_deadline_.reset();
  next_tick_.reset();  // pool_postsuspend cancels the waker
  commit();
}

// A failed pool resumes even when the resize fails, so that its queued IO is errored.
int RefPool::resume() {
  bind(mode_);
  if (int r = preresume(state_.data_blocks); r && mode_ != Mode::fail) return r;
  finish_resume();
  return 0;
}

int RefPool::resize_data(uint64_t data_blocks) {
  bind(params_.read_only ? Mode::read_only : Mode::write);  // bind_control_target comes first
  if (int r = preresume(data_blocks); r && mode_ != Mode::fail) return r;
  finish_resume();
  return 0;
}

int RefPool::reload(const PoolParams& params) {
  if (params.block_sectors != params_.block_sectors)
    throw std::invalid_argument("ref: a pool keeps its data block size");
  const SharingRule sharing = params_.sharing;
  params_ = params;
  params_.sharing = sharing;
  return resize_data(params.data_blocks);
}

int RefPool::reopen(const PoolParams& params) {
  if (std::any_of(core_.begin(), core_.end(), [](const auto& c) { return c.second.opens > 0; }))
    throw std::logic_error("ref: the pool object was destroyed while thin devices are open");
  // dm_pool_metadata_close commits; refused in the read-only modes, then abort() rolls
  // back. A failed close commit is only logged: no needs_check.
  if (mode_ < Mode::out_of_metadata_space) {
    if (!(state_ == committed_)) in_service_ = true;
    if (!(in_service_ && commit_fails())) commit();
  }
  // Tearing the metadata down writes the cached superblock; if that write fails, a
  // needs_check no commit carried is lost.
  if (needs_check_unwritten_ && commit_fails()) needs_check_ = false;
  needs_check_unwritten_ = false;
  error_queued(EIO);
  for (Piece& p : std::exchange(deferred_, {})) finish(p.io, EIO);
  for (IoHandle h : std::exchange(flush_waiters_, {})) finish(h, EIO);
  abort();
  in_service_ = false;  // a new pool object opens the metadata afresh, from its last commit
  transaction_id_ = committed_transaction_id_;
  time_ = committed_time_;
  for (auto& [dev, c] : core_) c = DeviceCore{};
  // A new struct pool: write mode until the table is bound (needs_check still applies).
  mode_ = Mode::write;
  out_of_data_space_ = false;
  no_space_deadline_.reset();
  next_tick_.reset();
  last_commit_ = now_;
  suspended_ = true;
  return reload(params);
}

void RefPool::status_query(bool noflush) {
  if (noflush || suspended_) return;
  commit();  // as pool_status: requeued IO waits for the worker
}

// ---- Space (the data space map: counts now, and counts at the last commit)

// alloc_data_block. With no free block it commits first, which cannot free anything here
// but does make this transaction's frees allocatable. A block must be free now and at the
// last commit: when every free block is a pending free, it is out of space without a commit.
std::optional<uint64_t> RefPool::alloc() {
  if (free_data_blocks() <= params_.low_water_mark && low_water_armed_) {
    low_water_armed_ = false;
    ++low_water_events_;
  }
  if (free_data_blocks() == 0) commit();
  if (free_data_blocks() <= pending_.size()) {
    set_mode(Mode::out_of_data_space);
    return std::nullopt;
  }
  const uint64_t token = next_token_++;
  state_.refs[token] = 1;
  return token;
}

void RefPool::unref(uint64_t token, bool discarded) {
  if (--state_.refs.at(token)) return;
  state_.refs.erase(token);
  if (state_.snap.contains(token)) {  // still allocated; abort() may bring it back
    state_.snap_only.insert(token);
    return;
  }
  if (!committed_.refs.contains(token)) {
    content_.erase(token);
    return;
  }
  pending_.insert(token);  // abort() may bring it back, with what the device now holds
  if (discarded && !params_.no_discard_passdown) content_.at(token).undefine_all();
}

uint64_t RefPool::mapped_blocks(uint32_t dev) const {
  const uint64_t n = state_.devices.at(dev).blocks.size();
  auto it = core_.find(dev);
  return it == core_.end() ? n : static_cast<uint64_t>(static_cast<int64_t>(n) + it->second.stale_mapped);
}

// ---- Commit, abort and time

bool RefPool::any_changed() const {
  return std::any_of(core_.begin(), core_.end(), [](const auto& c) { return c.second.changed; });
}

void RefPool::fail_metadata_commits(std::optional<uint64_t> commits) {
  metadata_failing_ = !commits || *commits > 0;
  failing_commits_ = commits;
}

void RefPool::heal_metadata() {
  metadata_failing_ = false;
  failing_commits_.reset();
}

bool RefPool::commit_fails() {
  if (!metadata_failing_) return false;
  if (failing_commits_ && --*failing_commits_ == 0) metadata_failing_ = false;
  return true;
}

bool RefPool::commit() {
  if (mode_ >= Mode::out_of_metadata_space) return false;
  if (!(state_ == committed_)) in_service_ = true;
  if (in_service_ && commit_fails()) {
    // __write_changed_details ran before the failing write: open devices no longer count
    // as changed (so abort() does not flag them), closed ones left memory.
    for (auto& [dev, c] : core_) c.changed = false;
    abort();
    set_needs_check();
    return false;
  }
  committed_ = state_;
  committed_transaction_id_ = transaction_id_;
  committed_time_ = time_;
  needs_check_unwritten_ = false;
  for (uint64_t t : pending_) content_.erase(t);
  pending_.clear();
  for (auto& [dev, c] : core_) c.changed = false;
  // check_for_data_space
  if (mode_ == Mode::out_of_data_space && free_data_blocks() > 0) {
    set_mode(Mode::write);
    requeue();
  }
  return true;
}

// requeue_bios: IO waiting for space runs again, in order, on the next worker pass.
void RefPool::requeue() {
  for (Piece& p : std::exchange(retry_, {})) deferred_.push_back(std::move(p));
}

// dm_pool_abort_metadata reloads the roots and space maps but keeps the in-core time and
// transaction id; devices with uncommitted changes fail later flushes (issue()).
void RefPool::abort() {
  // The kernel keeps its in-core struct dm_thin_device of open and changed devices,
  // mapped_blocks included, so such a device goes on counting the mappings the abort
  // dropped (in status lines).
  std::map<uint32_t, uint64_t> in_core;
  for (auto& [dev, c] : core_) {
    c.aborted_with_changes = c.changed;
    if ((c.changed || c.opens) && state_.devices.contains(dev)) in_core[dev] = mapped_blocks(dev);
  }
  state_ = committed_;
  pending_.clear();
  std::erase_if(content_, [&](const auto& kv) { return !state_.refs.contains(kv.first); });
  std::erase_if(core_, [&](const auto& kv) { return !state_.devices.contains(kv.first); });
  for (const auto& [dev, d] : state_.devices) core_.try_emplace(dev);
  for (const auto& [dev, n] : in_core)
    if (auto it = state_.devices.find(dev); it != state_.devices.end())
      core_[dev].stale_mapped = static_cast<int64_t>(n) - static_cast<int64_t>(it->second.blocks.size());
}

// The waker (do_waker) runs the worker every COMMIT_PERIOD from the last resume, so IO a
// commit requeued runs then at the latest; the worker commits when something changed and
// more than a period has passed since its last commit. Events are taken in time order; the
// kernel leaves the order of a waker tick and the no-space timeout due at the same moment
// open, and the timeout goes first here, as in the pool model.
void RefPool::advance_time(uint64_t ms) {
  const uint64_t end = now_ + ms;
  for (;;) {
    const bool timeout = no_space_deadline_ && (!next_tick_ || *no_space_deadline_ <= *next_tick_);
    const std::optional<uint64_t> at = timeout ? no_space_deadline_ : next_tick_;
    if (!at || *at > end) break;
    now_ = std::max(now_, *at);
    if (timeout) {
      no_space_timeout();
    } else {
      *next_tick_ += kCommitPeriodMs;
      run_worker();
    }
  }
  now_ = end;
}

void RefPool::no_space_timeout() {
  no_space_deadline_.reset();
  if (mode_ == Mode::out_of_data_space && !error_if_no_space_) {
    error_if_no_space_ = true;
    error_queued(ENOSPC);
  }
}

// ---- Queries

std::vector<uint32_t> RefPool::devices() const {
  std::vector<uint32_t> ids;
  for (const auto& [dev, d] : state_.devices) ids.push_back(dev);
  return ids;
}

std::optional<uint64_t> RefPool::highest_mapped_block(uint32_t dev) const {
  const auto& blocks = state_.devices.at(dev).blocks;
  if (blocks.empty()) return std::nullopt;
  return blocks.rbegin()->first;
}

std::map<uint64_t, uint64_t> RefPool::mappings(uint32_t dev) const {
  std::map<uint64_t, uint64_t> out;
  for (const auto& [block, m] : state_.devices.at(dev).blocks) out.emplace(block, m.token);
  return out;
}

std::optional<ReadResult> RefPool::peek(uint32_t dev, uint64_t block) const {
  const auto& blocks = state_.devices.at(dev).blocks;
  auto it = blocks.find(block);
  if (it == blocks.end()) return std::nullopt;
  ReadResult out;
  out.data.resize(params_.block_sectors * kSectorBytes);
  content_.at(it->second.token).read(0, out.data, out.defined);
  return out;
}

bool RefPool::is_shared(uint32_t dev, uint64_t block) const {
  const auto& blocks = state_.devices.at(dev).blocks;
  auto it = blocks.find(block);
  return it != blocks.end() && state_.refs.at(it->second.token) > 1;
}

}  // namespace thinsim::ref
