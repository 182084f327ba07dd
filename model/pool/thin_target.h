// A thin device's target (struct thin_c in dm-thin.c) and its bio processing: the fast
// path of thin_bio_map, and the worker's paths for unprovisioned and shared blocks
// (provision, zero, copy from an external origin, break sharing), discards with and
// without passdown, flushes and the commit they trigger, and the variants used in the
// degraded modes. dm core has already split every bio at data-block boundaries.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "model/pdata/block_device.h"
#include "model/pool/bio.h"
#include "model/pool/pool.h"

namespace thinsim::pool {

class ThinTarget {
 public:
  // thin_ctr once the arguments are parsed and the pool object found. Throws
  // TargetError with the kernel's text.
  ThinTarget(std::shared_ptr<Pool> pool, uint64_t dev_id, pdata::BlockDevice* origin);
  // thin_dtr.
  ~ThinTarget();
  ThinTarget(const ThinTarget&) = delete;
  ThinTarget& operator=(const ThinTarget&) = delete;

  Pool& pool() { return *pool_; }
  uint64_t dev_id() const { return dev_id_; }
  thin::ThinDevice& device() { return *td_; }
  bool discards_supported() const { return discards_supported_; }

  void preresume();  // samples the origin's size
  // thin_map. The bio must lie within one data block.
  void map(BioPtr bio);

  std::string status_info();
  // TABLE status with the names the table was loaded with.
  std::string status_table(const std::string& pool_name, const std::optional<std::string>& origin_name);

  // Worker interface (called by Pool).
  bool has_deferred_work() const { return !deferred_cells_.empty() || !deferred_bios_.empty(); }
  void process_deferred_cells();
  void process_deferred_bios();
  void retry_on_resume(BioPtr bio) { retry_on_resume_list_.push_back(std::move(bio)); }
  void requeue_retry_list();
  void error_retry_list(int err);
  size_t nr_queued() const { return retry_on_resume_list_.size(); }
  // A noflush suspend hands everything still waiting back to dm core (requeue_mode).
  std::deque<BioPtr> take_all_waiting();

 private:
  uint64_t block_of(const Bio& bio) const { return pool_->to_block(bio.sector); }
  bool triggers_commit(const Bio& bio);
  void issue(BioPtr bio);
  void remap_and_issue(BioPtr bio, uint64_t data_block);
  void remap_to_origin_and_issue(BioPtr bio);

  void process_bio(BioPtr bio);  // dispatches on the pool mode
  void process_cell(BioPtr bio);
  void process_cell_read_only(BioPtr bio);
  void process_shared_bio(BioPtr bio, uint64_t data_block);
  void break_sharing(BioPtr bio, uint64_t vblock, uint64_t data_origin);
  void provision_block(BioPtr bio, uint64_t vblock);
  void unserviceable_after_enospc(BioPtr bio);

  // A prepared mapping (struct dm_thin_new_mapping), completed synchronously.
  struct NewMapping {
    uint64_t virt_block, data_block;
    int status = 0;
    BioPtr overwrite_bio;  // set when the bio itself filled the block
    BioPtr holder;         // the bio to issue once the mapping is in place
  };
  void schedule_zero(BioPtr bio, uint64_t vblock, uint64_t data_block);
  void schedule_copy(BioPtr bio, uint64_t vblock, pdata::BlockDevice& from, uint64_t from_block,
                     uint64_t data_dest, uint64_t len);
  void schedule_external_copy(BioPtr bio, uint64_t vblock, uint64_t data_dest);
  void overwrite(NewMapping& m, BioPtr bio);
  void ll_zero(NewMapping& m, uint64_t begin_sector, uint64_t end_sector);
  void process_prepared_mapping(NewMapping m);
  void complete_overwrite_bio(BioPtr bio);

  void process_discard(BioPtr bio);  // dispatches on the pool mode
  void discard_no_passdown(BioPtr bio, uint64_t begin, uint64_t end);
  void discard_passdown(BioPtr bio, uint64_t begin, uint64_t end);

  std::shared_ptr<Pool> pool_;
  uint64_t dev_id_;
  pdata::BlockDevice* origin_dev_;
  uint64_t origin_size_ = 0;  // sectors, sampled at preresume
  thin::ThinDevice* td_ = nullptr;
  bool discards_supported_ = false;
  std::deque<BioPtr> deferred_cells_, deferred_bios_, retry_on_resume_list_;
};

}  // namespace thinsim::pool
