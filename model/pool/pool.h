// The shared pool object (struct pool in dm-thin.c): the metadata, the data device, the
// mode machine, commit and allocation policy, the worker that processes deferred bios,
// and simulated time (the periodic commit and the no-space timeout). One per metadata
// device, shared by every table that names it and every thin device on it.
//
// The kernel's worker runs asynchronously; here it runs to completion whenever work is
// queued (wake_worker), so one seed and one scenario always give one result. Bios that
// the kernel parks until space appears stay parked here too.
#pragma once

#include <cerrno>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/pdata/block_device.h"
#include "model/pool/bio.h"
#include "model/pool/pool_features.h"
#include "model/thin/pool_metadata.h"

namespace thinsim::pool {

class PoolTarget;
class ThinTarget;

constexpr uint64_t kCommitPeriodMs = 1000;              // COMMIT_PERIOD = HZ
constexpr uint64_t kDefaultNoSpaceTimeoutMs = 60'000;   // no_space_timeout module parameter

class Pool {
 public:
  // pool_create: opens (formatting unless read_only) the metadata. Throws TargetError
  // ("Error creating metadata object") with the metadata's errno.
  Pool(std::string pool_md, pdata::BlockDevice& metadata_dev, pdata::BlockDevice& data_dev,
       uint32_t block_size, bool read_only, uint64_t now_ms);
  // __pool_destroy: closes the metadata, which commits unless failed or read-only.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const std::string& name() const { return pool_md_; }
  pdata::BlockDevice& metadata_dev() { return metadata_dev_; }
  pdata::BlockDevice& data_dev() { return data_dev_; }
  thin::PoolMetadata& pmd() { return *pmd_; }
  uint32_t sectors_per_block() const { return sectors_per_block_; }
  uint64_t to_block(uint64_t sector) const { return sector / sectors_per_block_; }

  // Control target binding (bind_control_target / unbind_control_target).
  void bind(PoolTarget& pt);
  void unbind(PoolTarget& pt);
  PoolTarget* control_target() const { return ti_; }

  PoolMode mode() const { return pf_.mode; }
  const PoolFeatures& features() const { return pf_; }  // the adjusted features in use
  void set_mode(PoolMode m);
  bool suspended() const { return suspended_; }

  // Returns 0 or a positive errno (EINVAL in read-only and fail modes).
  int commit();
  // get_pool_io_error_code: what failed bios complete with.
  int io_error_code() const { return out_of_data_space_ ? ENOSPC : EIO; }
  // 0 with *result set, or ENOSPC / an errno; changes mode as the kernel does.
  int alloc_data_block(uint64_t& result);
  void metadata_operation_failed(const std::string& op, int err);

  // Thin devices.
  void add_active_thin(ThinTarget& tc) { active_thins_.push_back(&tc); }
  void remove_active_thin(ThinTarget& tc) { active_thins_.remove(&tc); }
  // Bios that wait for a commit (issue / complete_overwrite_bio).
  void defer_flush_bio(BioPtr bio) { deferred_flush_bios_.push_back(std::move(bio)); }
  void defer_flush_completion(BioPtr bio) { deferred_flush_completions_.push_back(std::move(bio)); }
  // Runs the worker until no work is left (do_worker).
  void wake_worker();
  // While plugged, wake_worker only notes that there is work; the last unplug runs the
  // worker. dm core maps every piece of a split bio in the submitting task before the
  // pool's workqueue runs, so one FUA write across three blocks is one commit, not three.
  // Holds the plug for its lifetime; release() unplugs (running the worker if work came
  // in), while leaving by an exception only drops the plug.
  class WorkerPlug {
   public:
    explicit WorkerPlug(Pool& p) : pool_(&p) { ++pool_->worker_plugs_; }
    ~WorkerPlug() { if (pool_) --pool_->worker_plugs_; }
    WorkerPlug(const WorkerPlug&) = delete;
    WorkerPlug& operator=(const WorkerPlug&) = delete;
    void release() { std::exchange(pool_, nullptr)->unplug_worker(); }

   private:
    Pool* pool_;
  };
  // requeue_bios: every active thin's retry list goes back to its deferred list.
  void requeue_bios();
  // The out-of-data-space behaviour for a bio that needs space (handle_unserviceable_bio).
  void handle_unserviceable_bio(ThinTarget& tc, BioPtr bio);

  // Suspend and resume of the pool's mapped device (pool_presuspend ... pool_resume).
  void presuspend();
  void postsuspend();
  void resume();

  // A data write the worker issues during process_deferred_bios is still in flight when
  // the same pass commits: the kernel's pre-commit flush of the data device does not cover
  // it (so a crash can keep the mapping and lose the data). True if the pool took the bio,
  // to submit once that pass's commit is done.
  bool hold_until_commit(BioPtr& bio);

  // Work to run at the start of the next worker pass, as the kernel runs the second half
  // of a passed-down discard (prepared_discards_pt2) once the passdown has completed.
  void queue_discard_pt2(std::function<void()> work) { prepared_discards_pt2_.push_back(std::move(work)); }

  // Simulated time: runs the waker and the no-space timeout up to now_ms.
  void advance_time(uint64_t now_ms);
  uint64_t now_ms() const { return now_ms_; }
  void set_no_space_timeout_ms(uint64_t ms) { no_space_timeout_ms_ = ms; }

  // dm events raised on the pool's mapped device, and the kernel log lines.
  uint64_t event_count() const { return events_; }
  void table_event() { ++events_; }
  const std::vector<std::string>& log() const { return log_; }
  void log(const std::string& line) {
    log_.push_back(line);
    if (log_sink_) log_sink_(line);
  }
  void set_log_sink(std::function<void(const std::string&)> sink) { log_sink_ = std::move(sink); }

  // low_water_blocks of the bound table and its re-arming on resume.
  void set_low_water_blocks(uint64_t b) { low_water_blocks_ = b; }

 private:
  friend class PoolTarget;
  void check_low_water_mark(uint64_t free_blocks);
  void check_for_metadata_space();
  void check_for_data_space();
  bool need_commit_due_to_time() const;
  void process_deferred_bios();
  void error_retry_list(int err);
  void abort_transaction();
  void notify_of_pool_mode_change();

  std::string pool_md_;
  pdata::BlockDevice& metadata_dev_;
  pdata::BlockDevice& data_dev_;
  uint32_t sectors_per_block_;
  std::unique_ptr<thin::PoolMetadata> pmd_;
  PoolTarget* ti_ = nullptr;
  PoolFeatures pf_;
  uint64_t low_water_blocks_ = 0;
  bool low_water_triggered_ = false;
  bool out_of_data_space_ = false;  // pool->out_of_data_space: picks ENOSPC over EIO
  bool suspended_ = true;  // pool_create: suspended until the first resume
  std::list<ThinTarget*> active_thins_;
  std::deque<BioPtr> deferred_flush_bios_, deferred_flush_completions_;
  std::deque<std::function<void()>> prepared_discards_pt2_;
  bool worker_running_ = false;
  bool in_deferred_pass_ = false;
  std::vector<BioPtr> in_flight_writes_;  // hold_until_commit
  void submit_in_flight_writes();
  bool worker_again_ = false;
  unsigned worker_plugs_ = 0;
  bool worker_pending_ = false;  // wake_worker was called while plugged
  void unplug_worker();

  uint64_t now_ms_;
  uint64_t last_commit_ms_;
  std::optional<uint64_t> next_waker_ms_;
  std::optional<uint64_t> no_space_deadline_ms_;
  uint64_t no_space_timeout_ms_ = kDefaultNoSpaceTimeoutMs;

  uint64_t events_ = 0;
  std::vector<std::string> log_;
  std::function<void(const std::string&)> log_sink_;
};

}  // namespace thinsim::pool
