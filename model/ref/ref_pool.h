// The reference model: a dm-thin pool as plain maps (device -> virtual block -> token),
// written from the pool semantics (fact sheet section 6, dm-thin.c) and nothing else. It is
// the oracle model/pool is compared with, so it shares no code with the rest of model/.
//
// Errors are positive errno values (EEXIST, ENOSPC, ...), 0 is success. Sizes: blocks in
// 512-byte sectors, IO in whole sectors. Time is simulated (advance_time), never read.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "model/ref/block_content.h"

namespace thinsim::ref {

// A thin device's external origin: `read` fills `out.size() / 512` sectors from `sector`.
struct ExternalOrigin {
  uint64_t sectors = 0;  // beyond this a thin device reads zeros
  std::function<void(uint64_t sector, std::span<std::byte> out)> read;
};

// When is a mapped block "shared", so that a write must copy it to a new block first?
enum class SharingRule {
  exact,        // its data block is referenced by more than one device mapping
  kernel_time,  // dm-thin's O(1) test (fact sheet 6.3): the device was snapshotted after
                // the mapping was written; false positives make it break sharing more often
};

struct PoolParams {
  uint64_t data_blocks = 0;
  uint64_t metadata_blocks = 0;  // the metadata device's 4 KiB blocks when formatted; 0: not followed
  uint32_t block_sectors = 128;
  uint64_t low_water_mark = 0;  // data blocks
  bool skip_block_zeroing = false;
  bool ignore_discard = false;
  bool no_discard_passdown = false;
  bool read_only = false;
  bool error_if_no_space = false;
  uint64_t no_space_timeout_ms = 60'000;  // module parameter; 0 = queue forever
  SharingRule sharing = SharingRule::exact;
};

// Ordered by degradation as in dm-thin.c: commits and messages need a mode below
// out_of_metadata_space.
enum class Mode { write, out_of_data_space, out_of_metadata_space, read_only, fail };

using IoHandle = uint64_t;

enum class IoStatus { ok, error, queued };

struct IoResult {
  IoStatus status = IoStatus::ok;
  int error = 0;        // errno when status == error
  IoHandle handle = 0;  // every IO gets one; completion(handle) follows a queued IO
};

struct ReadResult {
  int error = 0;
  std::vector<std::byte> data;  // undefined sectors read as zero
  std::vector<bool> defined;    // one flag per sector
};

class RefPool {
 public:
  struct Mapping {
    uint64_t token;
    uint32_t time;  // pool time when written
    friend bool operator==(const Mapping&, const Mapping&) = default;
  };
  struct Device {
    std::map<uint64_t, Mapping> blocks;
    uint32_t snapshotted_time = 0;
    friend bool operator==(const Device&, const Device&) = default;
  };

  explicit RefPool(PoolParams params);

  // Pool messages. Refused with EOPNOTSUPP in the read-only, out-of-metadata-space and fail
  // modes; device ids above 2^24 - 1 are EINVAL. Each success commits (and only commits:
  // IO the commit requeues waits for the worker, as after pool_message).
  int create_thin(uint64_t dev);
  int create_snap(uint64_t dev, uint64_t origin);
  int delete_thin(uint64_t dev);  // EBUSY while open
  int set_transaction_id(uint64_t current, uint64_t next);
  int reserve_metadata_snap();
  int release_metadata_snap();

  // Activating a thin target: EINVAL (bad id, fail mode, pool suspended), ENODATA. The
  // origin, when given, is used from now on for this device. IO does not require open().
  int open(uint64_t dev, std::optional<ExternalOrigin> origin = {});
  void close(uint32_t dev);
  // IO the pool holds for one thin device (waiting for space or for the worker) handed back
  // to dm core: a noflush suspend of the device (thin_presuspend's requeue mode) or its
  // removal. It stays outstanding until resubmit_device_io maps it again, in order.
  void take_device_io(uint32_t dev);
  void resubmit_device_io(uint32_t dev);

  // IO to a thin device, split at data-block boundaries like the kernel. A write or flush
  // may be queued (out of data space); completion(handle) then reports nullopt while
  // pending, else 0 or the errno. IO while the pool is suspended is a harness error.
  ReadResult read(uint32_t dev, uint64_t sector, uint64_t nr_sectors);
  IoResult write(uint32_t dev, uint64_t sector, std::span<const std::byte> data, bool fua = false);
  IoResult flush(uint32_t dev);
  int discard(uint32_t dev, uint64_t sector, uint64_t nr_sectors);
  std::optional<int> completion(IoHandle handle) const;

  // Pool events.
  void status_query(bool noflush = false);  // commits unless noflush or suspended; no worker
  void suspend();                           // postsuspend: cancels timers, commits
  // Same table: binds it again (asking for the current mode), then as the resize below
  // with the table's length (the metadata device may have grown or shrunk); re-arms low
  // water, retries queued IO.
  int resume();
  // Load a table with `data_blocks` and resume: EINVAL if smaller (the pool stays
  // suspended; the table has been bound, as pool_preresume binds before resizing);
  // skipped if needs_check. Then the metadata device likewise: EINVAL if it shrank below
  // what the metadata uses, grown into unless needs_check; one commit if either grew.
  int resize_data(uint64_t data_blocks);
  // Load a table with new parameters and resume: its features replace the ones in use,
  // then as resize_data(params.data_blocks). The sharing rule stays, and so does the block
  // size: __pool_find reuses the pool whatever size a new table names, so the caller passes
  // the pool's own (another one throws).
  int reload(const PoolParams& params);
  // The pool object was destroyed (its last table removed) and a new one is created over
  // the same metadata and resumed (pool_dtr, pool_ctr, pool_preresume). What the metadata
  // holds survives: the last commit (closing commits unless the mode forbids it), the
  // transaction id and time, needs_check, and what the data device holds. The in-core
  // state starts afresh: mode, timers, low water mark, queued IO (errored), device flags
  // and origins. No thin device may be open. Then as reload(params).
  int reopen(const PoolParams& params);
  // The metadata device's size in 4 KiB blocks as the next resume will see it (capped as
  // the kernel caps it): the harness follows the disk. 0 means not followed.
  void set_metadata_device_blocks(uint64_t blocks) { metadata_device_blocks_ = blocks; }
  void advance_time(uint64_t ms);

  // Failures the model cannot predict, called by the harness. The kernel, when a metadata
  // operation fails, does abort() then set_needs_check() (which switches to read-only).
  void set_needs_check();
  void enter_out_of_metadata_space();  // depends on btree layout, so the harness decides
  void enter_fail_mode();
  void abort();  // back to the last commit (transaction id and time stay, as in the kernel)

  // A metadata device whose writes fail makes commits fail: the next `commits` of them
  // (nullopt: every one until heal_metadata()). A failed commit is a failed metadata
  // operation: abort, needs_check, read-only (metadata_operation_failed; with only writes
  // failing, the abort and the in-core needs_check cannot fail). A message whose commit
  // fails still succeeds, its change lost, as pool_message ignores commit's result.
  void fail_metadata_commits(std::optional<uint64_t> commits);
  void heal_metadata();
  // thin_check --clear-needs-check-flag on the metadata while no pool object exists; it
  // takes effect when the pool is next created over it (reopen).
  void clear_needs_check_offline() { needs_check_ = false; }

  // Queries.
  std::vector<uint32_t> devices() const;
  // The device's mapped block count as its status line shows it (see abort()).
  uint64_t mapped_blocks(uint32_t dev) const;
  std::optional<uint64_t> highest_mapped_block(uint32_t dev) const;
  std::map<uint64_t, uint64_t> mappings(uint32_t dev) const;  // virtual block -> token
  bool is_shared(uint32_t dev, uint64_t block) const;        // token has > 1 reference
  // What a mapped block holds, read from the state without the IO path (no worker runs,
  // nothing commits), for comparisons; nullopt if the block is unmapped.
  std::optional<ReadResult> peek(uint32_t dev, uint64_t block) const;
  uint64_t transaction_id() const { return transaction_id_; }
  // Mapped blocks, and blocks only a held metadata snapshot still maps.
  uint64_t used_data_blocks() const { return state_.refs.size() + state_.snap_only.size(); }
  // The data device's size as the pool reports and uses it: the last commit's (the disk
  // space map answers from its committed copy), so growth becomes usable once committed,
  // which a read-only pool never does.
  uint64_t data_blocks() const { return committed_.data_blocks; }
  uint64_t free_data_blocks() const { return data_blocks() - used_data_blocks(); }
  uint64_t pending_frees() const { return pending_.size(); }  // free, not yet allocatable
  bool metadata_snap_held() const { return state_.metadata_snap; }
  Mode mode() const { return mode_; }
  std::string_view mode_word() const;  // status line: rw, out_of_data_space, ro, Fail
  bool needs_check() const { return needs_check_; }
  bool error_if_no_space() const { return error_if_no_space_; }
  unsigned low_water_events() const { return low_water_events_; }
  uint64_t now_ms() const { return now_; }
  uint32_t time() const { return time_; }  // the pool's snapshot clock

  // What the last commit made durable, i.e. what the metadata device holds: for comparing
  // a dump of the device with the model.
  const std::map<uint32_t, Device>& committed_devices() const { return committed_.devices; }
  uint64_t committed_data_blocks() const { return committed_.data_blocks; }
  uint64_t committed_transaction_id() const { return committed_transaction_id_; }
  uint32_t committed_time() const { return committed_time_; }
  uint64_t metadata_blocks() const { return state_.metadata_blocks; }  // the metadata's device size
  bool committed_metadata_snap() const { return committed_.metadata_snap; }

 private:
  // What a commit makes durable and abort() returns to.
  struct State {
    std::map<uint32_t, Device> devices;
    std::map<uint64_t, uint32_t> refs;  // live token -> number of mappings
    uint64_t data_blocks = 0;
    uint64_t metadata_blocks = 0;
    bool metadata_snap = false;
    // The held metadata snapshot keeps the committed mapping tree, and so every data block
    // it maps, allocated until it is released (__reserve_metadata_snap / __release_...).
    std::set<uint64_t> snap;       // tokens mapped when the snapshot was taken
    std::set<uint64_t> snap_only;  // of those, the ones no device maps any more
    friend bool operator==(const State&, const State&) = default;
  };
  // In-core only: the kernel's struct dm_thin_device flags and the thin target's origin.
  struct DeviceCore {
    unsigned opens = 0;
    bool changed = false;  // mappings changed since the last commit
    bool aborted_with_changes = false;
    int64_t stale_mapped = 0;  // in-core mapped_blocks minus the real count, after an abort
    std::optional<ExternalOrigin> origin;
  };
  // One bio after the split at block boundaries; a flush is an empty write to block 0.
  struct Piece {
    IoHandle io;
    uint32_t dev;
    uint64_t block;
    uint32_t first;  // sector within the block
    std::vector<std::byte> data;
    bool fua, flush;
  };
  struct Io { size_t outstanding; int error; };
  enum class Step { done, queued, after_commit };

  int refused(uint64_t dev) const;
  int begin_message(uint64_t dev);  // refused(), and the metadata is in service if not
  int message_done();
  void set_mode(Mode next);
  void bind(Mode requested);
  int preresume(uint64_t data_blocks);
  void finish_resume();
  bool commit();
  bool commit_fails();  // consumes one failing commit
  void requeue();
  void no_space_timeout();
  bool any_changed() const;
  std::optional<uint64_t> alloc();
  void unref(uint64_t token, bool discarded);
  bool looks_shared(const Device& d, const Mapping& m) const;
  BlockContent fresh_block(uint32_t dev, uint64_t block) const;
  void read_origin(uint32_t dev, uint64_t sector, std::span<std::byte> out) const;
  void check_io(uint32_t dev, uint64_t sectors) const;
  IoResult submit(std::vector<Piece> pieces);
  bool dispatch(Piece p);
  Step serve(Piece& p, int& err, bool& woken);
  static Step failed(int& err, int e) { return err = e, Step::done; }
  Step unserviceable(int& err) const;
  Step issue(const Piece& p, int& err) const;
  void run_worker();
  void finish(IoHandle h, int err);
  void error_queued(int err);

  PoolParams params_;
  State state_, committed_;
  std::map<uint64_t, BlockContent> content_;  // what the data device holds; never rolled back
  std::set<uint64_t> pending_;                // freed since the commit that had them live
  std::map<uint32_t, DeviceCore> core_;
  uint64_t transaction_id_ = 0;
  uint64_t committed_transaction_id_ = 0;
  uint32_t committed_time_ = 0;
  uint32_t time_ = 0;  // incremented by create_snap
  uint64_t next_token_ = 1;

  Mode mode_ = Mode::write;
  bool needs_check_ = false;
  bool error_if_no_space_ = false;
  uint64_t metadata_device_blocks_ = 0;
  bool needs_check_unwritten_ = false;  // no commit since needs_check was set
  // pmd->in_service: the metadata has been modified (or write-locked) since it was opened;
  // until then a commit writes nothing (so no write error can fail it).
  bool in_service_ = true;
  bool metadata_failing_ = false;
  std::optional<uint64_t> failing_commits_;  // with metadata_failing_: how many more; none: all
  bool out_of_data_space_ = false;  // kernel flag; only write mode clears it
  bool suspended_ = false;
  bool low_water_armed_ = true;
  unsigned low_water_events_ = 0;

  static constexpr uint64_t kCommitPeriodMs = 1000;  // COMMIT_PERIOD
  uint64_t now_ = 0;
  std::optional<uint64_t> next_tick_ = kCommitPeriodMs;  // do_waker; none while suspended
  uint64_t last_commit_ = 0;  // last commit by the worker (periodic or for a flush)
  std::optional<uint64_t> no_space_deadline_;

  IoHandle next_io_ = 1;
  std::map<IoHandle, Io> ios_;
  std::deque<Piece> retry_;     // queued for lack of data space
  std::deque<Piece> deferred_;  // requeued, to run on the next worker pass
  std::vector<IoHandle> flush_waiters_;
  std::map<uint32_t, std::deque<Piece>> handed_back_;  // take_device_io
};

}  // namespace thinsim::ref
