#include "model/pool/pool.h"

#include <algorithm>
#include <cerrno>

#include "model/bugzoo/bug_switch.h"
#include "model/pdata/error.h"
#include "model/pool/pool_target.h"
#include "model/pool/target_error.h"
#include "model/pool/thin_target.h"

namespace thinsim::pool {

using pdata::PdataError;

Pool::Pool(std::string pool_md, pdata::BlockDevice& metadata_dev, pdata::BlockDevice& data_dev,
           uint32_t block_size, bool read_only, uint64_t now_ms)
    : pool_md_(std::move(pool_md)),
      metadata_dev_(metadata_dev),
      data_dev_(data_dev),
      sectors_per_block_(block_size),
      now_ms_(now_ms),
      last_commit_ms_(now_ms) {
  try {
    thin::PoolMetadata::Options o;
    o.data_block_size = block_size;
    o.format_device = !read_only;
    pmd_ = std::make_unique<thin::PoolMetadata>(metadata_dev, o);
  } catch (const PdataError& e) {
    throw TargetError(e.err(), "Error creating metadata object");
  }
}

Pool::~Pool() {
  if (!pmd_) return;
  try {
    pmd_->close();
  } catch (const PdataError& e) {
    log(pool_md_ + ": dm_pool_metadata_close() failed: " + e.what());
  }
}

// ---------------------------------------------------------------------------------------
// Modes

void Pool::bind(PoolTarget& pt) {
  // A pool in fail mode is never upgraded: set_mode decides from the old mode.
  PoolMode old_mode = pf_.mode;
  PoolMode new_mode = pt.adjusted_pf.mode;
  pt.adjusted_pf.mode = old_mode;
  ti_ = &pt;
  pf_ = pt.adjusted_pf;
  low_water_blocks_ = pt.low_water_blocks();
  set_mode(new_mode);
}

void Pool::unbind(PoolTarget& pt) {
  if (ti_ == &pt) ti_ = nullptr;
}

void Pool::notify_of_pool_mode_change() {
  std::string extra;
  if (pf_.mode == PoolMode::out_of_data_space)
    extra = pf_.error_if_no_space ? " (error IO)" : " (queue IO)";
  table_event();
  log(pool_md_ + ": switching pool to " + mode_description(pf_.mode) + extra + " mode");
}

void Pool::set_mode(PoolMode new_mode) {
  bool needs_check = pmd_->needs_check();
  PoolMode old_mode = pf_.mode;
  // Never back to write mode while user intervention is required.
  if (new_mode == PoolMode::write && needs_check) {
    log(pool_md_ + ": unable to switch pool to write mode until repaired.");
    new_mode = old_mode != new_mode ? old_mode : PoolMode::read_only;
  }
  // Rollback failed: no way out without thin_repair.
  if (old_mode == PoolMode::fail) new_mode = old_mode;

  switch (new_mode) {
    case PoolMode::fail:
      pmd_->set_read_only();
      error_retry_list(io_error_code());
      break;
    case PoolMode::out_of_metadata_space:
    case PoolMode::read_only:
      pmd_->set_read_only();
      error_retry_list(io_error_code());
      break;
    case PoolMode::out_of_data_space:
      out_of_data_space_ = true;
      // queue_delayed_work does nothing if the timeout is already pending.
      if (!pf_.error_if_no_space && no_space_timeout_ms_ && !no_space_deadline_ms_)
        no_space_deadline_ms_ = now_ms_ + no_space_timeout_ms_;
      break;
    case PoolMode::write:
      if (old_mode == PoolMode::out_of_data_space) no_space_deadline_ms_.reset();
      out_of_data_space_ = false;
      if (ti_) pf_.error_if_no_space = ti_->requested_pf.error_if_no_space;
      pmd_->set_read_write();
      break;
  }
  pf_.mode = new_mode;
  // Keep the table in sync so that a later bind does not change the mode unexpectedly.
  if (ti_) ti_->adjusted_pf.mode = new_mode;
  if (old_mode != new_mode) notify_of_pool_mode_change();
}

void Pool::abort_transaction() {
  log(pool_md_ + ": aborting current metadata transaction");
  try {
    pmd_->abort();
  } catch (const PdataError&) {
    log(pool_md_ + ": failed to abort metadata transaction");
    set_mode(PoolMode::fail);
  }
  try {
    pmd_->set_needs_check();
  } catch (const PdataError&) {
    log(pool_md_ + ": failed to set 'needs_check' flag in metadata");
    set_mode(PoolMode::fail);
  }
}

void Pool::metadata_operation_failed(const std::string& op, int err) {
  log(pool_md_ + ": metadata operation '" + op + "' failed: error = -" + std::to_string(err));
  abort_transaction();
  set_mode(PoolMode::read_only);
}

// ---------------------------------------------------------------------------------------
// Commit and allocation

void Pool::check_for_metadata_space() {
  const char* reason = nullptr;
  try {
    if (!pmd_->free_metadata_blocks()) reason = "No free metadata blocks";
  } catch (const PdataError&) {
    reason = "Could not get free metadata blocks";
  }
  if (reason && !is_read_only_mode(mode())) {
    log(reason);
    set_mode(PoolMode::out_of_metadata_space);
  }
}

void Pool::check_for_data_space() {
  if (mode() != PoolMode::out_of_data_space) return;
  uint64_t nr_free;
  try {
    nr_free = pmd_->free_data_blocks();
  } catch (const PdataError&) {
    return;
  }
  if (nr_free) {
    set_mode(PoolMode::write);
    requeue_bios();
  }
}

int Pool::commit() {
  if (mode() >= PoolMode::out_of_metadata_space) return EINVAL;
  try {
    pmd_->commit();
  } catch (const PdataError& e) {
    metadata_operation_failed("dm_pool_commit_metadata", e.err());
    return e.err();
  }
  check_for_metadata_space();
  check_for_data_space();
  return 0;
}

void Pool::check_low_water_mark(uint64_t free_blocks) {
  if (free_blocks <= low_water_blocks_ && !low_water_triggered_) {
    log(pool_md_ + ": reached low water mark for data device: sending event.");
    low_water_triggered_ = true;
    table_event();
  }
}

int Pool::alloc_data_block(uint64_t& result) {
  if (mode() != PoolMode::write) return EINVAL;  // WARN_ON in the kernel
  // BZ-PM-01 reverts 3e1a06990958 "dm thin: fix out of data space handling": running
  // out of data space switches to read-only, which (then) aborted the open transaction,
  // throwing away the mappings of writes that had already completed.
  auto out_of_data_space_aborts = [this] {
    log(pool_md_ + ": no free data space available.");
    try {
      pmd_->abort();
    } catch (const PdataError&) {
      log(pool_md_ + ": aborting transaction failed");
      set_mode(PoolMode::fail);
      return;
    }
    set_mode(PoolMode::read_only);
  };
  uint64_t free_blocks;
  try {
    free_blocks = pmd_->free_data_blocks();
  } catch (const PdataError& e) {
    metadata_operation_failed("dm_pool_get_free_block_count", e.err());
    return e.err();
  }
  check_low_water_mark(free_blocks);
  if (!free_blocks) {
    // A commit may release blocks freed in this transaction.
    if (int r = commit()) return r;
    try {
      free_blocks = pmd_->free_data_blocks();
    } catch (const PdataError& e) {
      metadata_operation_failed("dm_pool_get_free_block_count", e.err());
      return e.err();
    }
    if (!free_blocks) {
      if (bugzoo::enabled(bugzoo::BugId::pm01_out_of_data_space_aborts)) [[unlikely]]
        out_of_data_space_aborts();
      else
        set_mode(PoolMode::out_of_data_space);
      return ENOSPC;
    }
  }
  try {
    result = pmd_->alloc_data_block();
  } catch (const PdataError& e) {
    // The free count includes blocks freed in this transaction, which the space map
    // will not hand out before the next commit: then this fails without a commit.
    if (e.err() == ENOSPC && bugzoo::enabled(bugzoo::BugId::pm01_out_of_data_space_aborts))
      out_of_data_space_aborts();
    else if (e.err() == ENOSPC)
      set_mode(PoolMode::out_of_data_space);
    else
      metadata_operation_failed("dm_pool_alloc_data_block", e.err());
    return e.err();
  }
  try {
    free_blocks = pmd_->free_metadata_blocks();
  } catch (const PdataError& e) {
    metadata_operation_failed("dm_pool_get_free_metadata_block_count", e.err());
    return e.err();
  }
  // Commit before the metadata reserve is used up.
  if (!free_blocks) {
    if (int r = commit()) return r;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// The worker

bool Pool::need_commit_due_to_time() const {
  // !time_in_range(jiffies, last, last + COMMIT_PERIOD)
  return now_ms_ < last_commit_ms_ || now_ms_ > last_commit_ms_ + kCommitPeriodMs;
}

void Pool::wake_worker() {
  if (worker_plugs_) {
    worker_pending_ = true;
    return;
  }
  if (worker_running_) {
    worker_again_ = true;
    return;
  }
  worker_running_ = true;
  do {
    worker_again_ = false;
    // do_worker: the prepared second halves of discards, then the deferred bios.
    for (auto pt2 = std::move(prepared_discards_pt2_); !pt2.empty(); pt2.pop_front()) pt2.front()();
    process_deferred_bios();
    if (!prepared_discards_pt2_.empty()) worker_again_ = true;
    for (ThinTarget* tc : active_thins_)
      if (tc->has_deferred_work()) worker_again_ = true;
  } while (worker_again_);
  worker_running_ = false;
}

void Pool::unplug_worker() {
  if (--worker_plugs_ || !worker_pending_) return;
  worker_pending_ = false;
  wake_worker();
}

bool Pool::hold_until_commit(BioPtr& bio) {
  if (!in_deferred_pass_ || bio->op != BioOp::write || bio->remapped_dev != &data_dev_) return false;
  in_flight_writes_.push_back(std::move(bio));
  return true;
}

void Pool::submit_in_flight_writes() {
  in_deferred_pass_ = false;
  for (auto held = std::move(in_flight_writes_); auto& b : held) submit_remapped(*b);
}

void Pool::process_deferred_bios() {
  // Thins may leave the list while their bios complete; walk a copy.
  std::vector<ThinTarget*> thins(active_thins_.begin(), active_thins_.end());
  in_deferred_pass_ = true;
  for (ThinTarget* tc : thins) {
    if (std::find(active_thins_.begin(), active_thins_.end(), tc) == active_thins_.end())
      continue;
    tc->process_deferred_cells();
    tc->process_deferred_bios();
  }

  std::deque<BioPtr> bios, completions;
  bios.swap(deferred_flush_bios_);
  completions.swap(deferred_flush_completions_);
  if (bios.empty() && completions.empty() &&
      !(pmd_->changed_this_transaction() && need_commit_due_to_time())) {
    submit_in_flight_writes();
    return;
  }

  const int failed = commit();
  // The writes issued in this pass reach the disk after the commit's flush of it.
  submit_in_flight_writes();
  if (failed) {
    for (auto& b : completions) b->complete(EIO);
    for (auto& b : bios) b->complete(EIO);
    return;
  }
  last_commit_ms_ = now_ms_;
  for (auto& b : completions) b->complete(0);
  for (auto& b : bios) {
    // The data device was flushed by the commit: a flush needs nothing more.
    if (b->op == BioOp::flush)
      b->complete(0);
    else
      submit_remapped(*b);
  }
}

void Pool::requeue_bios() {
  for (ThinTarget* tc : active_thins_) tc->requeue_retry_list();
}

void Pool::error_retry_list(int err) {
  for (ThinTarget* tc : active_thins_) tc->error_retry_list(err);
}

void Pool::handle_unserviceable_bio(ThinTarget& tc, BioPtr bio) {
  int err = EIO;
  switch (mode()) {
    case PoolMode::write:
      log("bio unserviceable, yet pool is in PM_WRITE mode");
      break;
    case PoolMode::out_of_data_space:
      err = pf_.error_if_no_space ? ENOSPC : 0;
      break;
    default:
      break;
  }
  if (err)
    bio->complete(err);
  else
    tc.retry_on_resume(std::move(bio));
}

// ---------------------------------------------------------------------------------------
// Suspend, resume and time

void Pool::presuspend() { suspended_ = true; }

void Pool::postsuspend() {
  next_waker_ms_.reset();
  no_space_deadline_ms_.reset();
  wake_worker();  // flush_workqueue
  (void)commit();
}

void Pool::resume() {
  requeue_bios();
  low_water_triggered_ = false;
  suspended_ = false;
  // do_waker: run the worker now and every COMMIT_PERIOD from here.
  wake_worker();
  next_waker_ms_ = now_ms_ + kCommitPeriodMs;
}

void Pool::advance_time(uint64_t to_ms) {
  while (true) {
    std::optional<uint64_t> next;
    if (next_waker_ms_) next = next_waker_ms_;
    if (no_space_deadline_ms_ && (!next || *no_space_deadline_ms_ < *next))
      next = no_space_deadline_ms_;
    if (!next || *next > to_ms) break;
    now_ms_ = *next;
    if (no_space_deadline_ms_ && *no_space_deadline_ms_ == now_ms_) {
      // do_no_space_timeout: stop queueing, error what is queued.
      no_space_deadline_ms_.reset();
      if (mode() == PoolMode::out_of_data_space &&
          bugzoo::enabled(bugzoo::BugId::pm04_no_space_timeout_read_only)) [[unlikely]] {
        // BZ-PM-04 reverts bcc696fac11f "dm thin: stay in out-of-data-space mode once
        // no_space_timeout expires": the timeout drops the pool to read-only.
        set_mode(PoolMode::read_only);
      } else if (mode() == PoolMode::out_of_data_space && !pf_.error_if_no_space) {
        pf_.error_if_no_space = true;
        notify_of_pool_mode_change();
        error_retry_list(ENOSPC);
      }
    } else {
      *next_waker_ms_ += kCommitPeriodMs;
      wake_worker();
    }
  }
  now_ms_ = std::max(now_ms_, to_ms);
}

}  // namespace thinsim::pool
