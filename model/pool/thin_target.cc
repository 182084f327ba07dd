#include "model/pool/thin_target.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "model/bugzoo/bug_switch.h"
#include "model/pdata/error.h"
#include "model/pool/pool_target.h"
#include "model/pool/target_error.h"

namespace thinsim::pool {

using pdata::PdataError;

ThinTarget::ThinTarget(std::shared_ptr<Pool> pool, uint64_t dev_id, pdata::BlockDevice* origin)
    : pool_(std::move(pool)), dev_id_(dev_id), origin_dev_(origin) {
  if (pool_->mode() == PoolMode::fail)
    throw TargetError(EINVAL, "Couldn't open thin device, Pool is in fail mode");
  try {
    td_ = &pool_->pmd().open_thin(dev_id);
  } catch (const PdataError& e) {
    throw TargetError(e.err(), "Couldn't open thin internal device");
  }
  // Thin devices take discards only when the pool has them enabled.
  discards_supported_ = pool_->features().discard_enabled;
  if (pool_->suspended()) {
    pool_->pmd().close_thin(*td_);
    throw TargetError(EINVAL, "Unable to activate thin device while pool is suspended");
  }
  pool_->add_active_thin(*this);
}

ThinTarget::~ThinTarget() {
  pool_->remove_active_thin(*this);
  for (auto* list : {&deferred_cells_, &deferred_bios_, &retry_on_resume_list_})
    for (auto& b : *list) b->complete(EIO);
  pool_->pmd().close_thin(*td_);
}

void ThinTarget::preresume() {
  if (origin_dev_) origin_size_ = origin_dev_->nr_sectors();
}

// ---------------------------------------------------------------------------------------
// Issuing remapped bios

bool ThinTarget::triggers_commit(const Bio& bio) {
  return bio.is_flush() && pool_->pmd().changed_this_transaction(*td_);
}

void ThinTarget::issue(BioPtr bio) {
  if (!triggers_commit(*bio)) {
    if (!pool_->hold_until_commit(bio)) submit_remapped(*bio);
    return;
  }
  // Earlier IO changed metadata that could not be committed.
  if (pool_->pmd().aborted_changes(*td_)) {
    bio->complete(EIO);
    return;
  }
  // Batched: the worker commits once for all of them.
  pool_->defer_flush_bio(std::move(bio));
}

void ThinTarget::remap_and_issue(BioPtr bio, uint64_t data_block) {
  uint32_t spb = pool_->sectors_per_block();
  bio->remapped_dev = &pool_->data_dev();
  bio->remapped_sector = data_block * spb + bio->sector % spb;
  bio->remapped_nr_sectors = bio->nr_sectors;
  issue(std::move(bio));
}

void ThinTarget::remap_to_origin_and_issue(BioPtr bio) {
  bio->remapped_dev = origin_dev_;
  bio->remapped_sector = bio->sector;
  if (!bio->remapped_nr_sectors) bio->remapped_nr_sectors = bio->nr_sectors;
  issue(std::move(bio));
}

// ---------------------------------------------------------------------------------------
// Mapping (thin_bio_map) and the worker's queues

void ThinTarget::map(BioPtr bio) {
  if (pool_->mode() == PoolMode::fail) {
    bio->complete(EIO);
    return;
  }
  if (bio->is_flush() || bio->op == BioOp::discard) {
    deferred_bios_.push_back(std::move(bio));
    pool_->wake_worker();
    return;
  }
  std::optional<thin::LookupResult> r;
  try {
    r = pool_->pmd().find_block(*td_, block_of(*bio));
  } catch (const PdataError&) {
    bio->complete(EIO);
    return;
  }
  if (r && !r->shared) {
    // Fast path: a mapped, unshared block needs no metadata change (and no flush bit
    // reaches here, so nothing waits for a commit).
    remap_and_issue(std::move(bio), r->block);
    return;
  }
  // Unprovisioned or shared: the worker decides.
  deferred_cells_.push_back(std::move(bio));
  pool_->wake_worker();
}

namespace {
// The kernel sorts deferred work by sector (an rb-tree, equal keys to the right).
void sort_by_sector(std::deque<BioPtr>& q) {
  std::stable_sort(q.begin(), q.end(),
                   [](const BioPtr& a, const BioPtr& b) { return a->sector < b->sector; });
}
}  // namespace

void ThinTarget::process_deferred_cells() {
  std::deque<BioPtr> cells;
  cells.swap(deferred_cells_);
  sort_by_sector(cells);
  // A cell holds one bio here, so a cell is processed like a bio.
  for (auto& b : cells) process_bio(std::move(b));
}

void ThinTarget::process_deferred_bios() {
  std::deque<BioPtr> bios;
  bios.swap(deferred_bios_);
  sort_by_sector(bios);
  for (auto& b : bios) {
    if (b->op == BioOp::discard)
      process_discard(std::move(b));
    else
      process_bio(std::move(b));
  }
}

void ThinTarget::requeue_retry_list() {
  for (auto& b : retry_on_resume_list_) deferred_bios_.push_back(std::move(b));
  retry_on_resume_list_.clear();
}

void ThinTarget::error_retry_list(int err) {
  std::deque<BioPtr> bios;
  bios.swap(retry_on_resume_list_);
  for (auto& b : bios) b->complete(err);
}

std::deque<BioPtr> ThinTarget::take_all_waiting() {
  std::deque<BioPtr> all;
  for (auto* list : {&deferred_cells_, &deferred_bios_, &retry_on_resume_list_}) {
    for (auto& b : *list) all.push_back(std::move(b));
    list->clear();
  }
  return all;
}

void ThinTarget::process_bio(BioPtr bio) {
  switch (pool_->mode()) {
    case PoolMode::write: process_cell(std::move(bio)); break;
    case PoolMode::fail: bio->complete(EIO); break;
    default: process_cell_read_only(std::move(bio)); break;
  }
}

// ---------------------------------------------------------------------------------------
// Write mode

void ThinTarget::process_cell(BioPtr bio) {
  uint64_t block = block_of(*bio);
  std::optional<thin::LookupResult> r;
  try {
    r = pool_->pmd().find_block(*td_, block);
  } catch (const PdataError& e) {
    pool_->log("process_cell: dm_thin_find_block() failed: error = -" + std::to_string(e.err()));
    bio->complete(EIO);
    return;
  }
  if (r) {
    if (r->shared)
      process_shared_bio(std::move(bio), r->block);
    else
      remap_and_issue(std::move(bio), r->block);
    return;
  }
  if (bio->op == BioOp::read && origin_dev_) {
    if (bio->end_sector() <= origin_size_) {
      remap_to_origin_and_issue(std::move(bio));
    } else if (bio->sector < origin_size_) {
      // The part beyond the origin's end reads as zeroes.
      std::fill(bio->data.begin(), bio->data.end(), std::byte{0});
      bio->remapped_nr_sectors = origin_size_ - bio->sector;
      remap_to_origin_and_issue(std::move(bio));
    } else {
      std::fill(bio->data.begin(), bio->data.end(), std::byte{0});
      bio->complete(0);
    }
    return;
  }
  provision_block(std::move(bio), block);
}

void ThinTarget::process_shared_bio(BioPtr bio, uint64_t data_block) {
  if (bio->op == BioOp::write && bio->nr_sectors) {
    // The block first: the order in which arguments are evaluated is unspecified, and the
    // move empties bio.
    const uint64_t vblock = block_of(*bio);
    break_sharing(std::move(bio), vblock, data_block);
  } else
    remap_and_issue(std::move(bio), data_block);
}

void ThinTarget::unserviceable_after_enospc(BioPtr bio) {
  // retry_bios_on_resume: queue or error by the mode alloc_data_block left behind.
  pool_->handle_unserviceable_bio(*this, std::move(bio));
}

void ThinTarget::break_sharing(BioPtr bio, uint64_t vblock, uint64_t data_origin) {
  uint64_t data_block;
  int r = pool_->alloc_data_block(data_block);
  if (r == 0)
    schedule_copy(std::move(bio), vblock, pool_->data_dev(), data_origin, data_block,
                  pool_->sectors_per_block());
  else if (r == ENOSPC)
    unserviceable_after_enospc(std::move(bio));
  else
    bio->complete(EIO);
}

void ThinTarget::provision_block(BioPtr bio, uint64_t vblock) {
  if (bio->op == BioOp::flush) {  // empty bios pass straight through
    remap_and_issue(std::move(bio), 0);
    return;
  }
  if (bio->op == BioOp::read) {
    std::fill(bio->data.begin(), bio->data.end(), std::byte{0});
    bio->complete(0);
    return;
  }
  uint64_t data_block;
  int r = pool_->alloc_data_block(data_block);
  if (r == 0) {
    if (origin_dev_)
      schedule_external_copy(std::move(bio), vblock, data_block);
    else
      schedule_zero(std::move(bio), vblock, data_block);
  } else if (r == ENOSPC) {
    unserviceable_after_enospc(std::move(bio));
  } else {
    bio->complete(EIO);
  }
}

void ThinTarget::overwrite(NewMapping& m, BioPtr bio) {
  // remap_and_issue_overwrite: the bio fills the block, no zeroing or copying needed.
  uint32_t spb = pool_->sectors_per_block();
  try {
    pool_->data_dev().write(m.data_block * spb + bio->sector % spb,
                            std::span<const std::byte>(bio->data),
                            pdata::WriteFlags{.fua = bio->fua});
  } catch (const std::exception&) {
    m.status = EIO;
  }
  m.overwrite_bio = std::move(bio);
}

void ThinTarget::ll_zero(NewMapping& m, uint64_t begin_sector, uint64_t end_sector) {
  // kcopyd zeroing writes zeroes, in chunks; errors fail the mapping.
  static const std::vector<std::byte> zeroes(1 << 20);
  try {
    for (uint64_t s = begin_sector; s < end_sector;) {
      uint64_t n = std::min<uint64_t>(end_sector - s, zeroes.size() / 512);
      pool_->data_dev().write(s, std::span(zeroes.data(), n * 512));
      s += n;
    }
  } catch (const std::exception&) {
    m.status = EIO;
  }
}

void ThinTarget::schedule_zero(BioPtr bio, uint64_t vblock, uint64_t data_block) {
  NewMapping m{vblock, data_block, 0, nullptr, nullptr};
  uint32_t spb = pool_->sectors_per_block();
  bool overwrites = bio->op == BioOp::write && bio->nr_sectors == spb;
  if (pool_->features().zero_new_blocks && overwrites) {
    overwrite(m, std::move(bio));
  } else {
    if (pool_->features().zero_new_blocks) ll_zero(m, data_block * spb, (data_block + 1) * spb);
    m.holder = std::move(bio);
  }
  process_prepared_mapping(std::move(m));
}

void ThinTarget::schedule_copy(BioPtr bio, uint64_t vblock, pdata::BlockDevice& from,
                               uint64_t from_block, uint64_t data_dest, uint64_t len) {
  NewMapping m{vblock, data_dest, 0, nullptr, nullptr};
  uint32_t spb = pool_->sectors_per_block();
  if (bio->op == BioOp::write && bio->nr_sectors == spb) {
    overwrite(m, std::move(bio));
  } else {
    try {  // kcopyd: copy len sectors of the source block
      std::vector<std::byte> buf(len * 512);
      from.read(from_block * spb, buf);
      pool_->data_dev().write(data_dest * spb, buf);
    } catch (const std::exception&) {
      m.status = EIO;
    }
    if (len < spb && pool_->features().zero_new_blocks)
      ll_zero(m, data_dest * spb + len, (data_dest + 1) * spb);
    m.holder = std::move(bio);
  }
  process_prepared_mapping(std::move(m));
}

void ThinTarget::schedule_external_copy(BioPtr bio, uint64_t vblock, uint64_t data_dest) {
  uint32_t spb = pool_->sectors_per_block();
  uint64_t begin = vblock * spb, end = (vblock + 1) * spb;
  if (end <= origin_size_)
    schedule_copy(std::move(bio), vblock, *origin_dev_, vblock, data_dest, spb);
  else if (begin < origin_size_)
    schedule_copy(std::move(bio), vblock, *origin_dev_, vblock, data_dest, origin_size_ - begin);
  else
    schedule_zero(std::move(bio), vblock, data_dest);
}

void ThinTarget::process_prepared_mapping(NewMapping m) {
  BioPtr& bio = m.overwrite_bio ? m.overwrite_bio : m.holder;
  // In the read-only modes the pool's process_prepared_mapping is
  // process_prepared_mapping_fail: the bios fail and nothing is inserted. This matters
  // when the allocation's own commit has just run out of metadata space.
  if (is_read_only_mode(pool_->mode()) || pool_->mode() == PoolMode::fail) {
    bio->complete(pool_->io_error_code());
    return;
  }
  if (m.status) {
    bio->complete(EIO);
    return;
  }
  // From here on IO to this block is remapped directly.
  try {
    pool_->pmd().insert_block(*td_, m.virt_block, m.data_block);
  } catch (const PdataError& e) {
    pool_->metadata_operation_failed("dm_thin_insert_block", e.err());
    bio->complete(EIO);
    return;
  }
  if (m.overwrite_bio)
    complete_overwrite_bio(std::move(m.overwrite_bio));
  else
    remap_and_issue(std::move(m.holder), m.data_block);
}

void ThinTarget::complete_overwrite_bio(BioPtr bio) {
  // A FUA overwrite completes only after the commit.
  if (!triggers_commit(*bio)) {
    bio->complete(0);
    return;
  }
  if (pool_->pmd().aborted_changes(*td_)) {
    bio->complete(EIO);
    return;
  }
  pool_->defer_flush_completion(std::move(bio));
}

// ---------------------------------------------------------------------------------------
// Read-only and out-of-data-space modes (__process_bio_read_only)

void ThinTarget::process_cell_read_only(BioPtr bio) {
  std::optional<thin::LookupResult> r;
  try {
    r = pool_->pmd().find_block(*td_, block_of(*bio));
  } catch (const PdataError& e) {
    pool_->log("__process_bio_read_only: dm_thin_find_block() failed: error = -" +
               std::to_string(e.err()));
    bio->complete(EIO);
    return;
  }
  if (r) {
    if (r->shared && bio->op == BioOp::write && bio->nr_sectors)
      pool_->handle_unserviceable_bio(*this, std::move(bio));
    else
      remap_and_issue(std::move(bio), r->block);
    return;
  }
  // An empty flush counts as a write here: with block 0 unprovisioned it is
  // unserviceable, as in the kernel.
  if (bio->is_write()) {
    pool_->handle_unserviceable_bio(*this, std::move(bio));
    return;
  }
  if (origin_dev_) {
    // Unlike write mode, the read is not cut at the origin's end.
    remap_to_origin_and_issue(std::move(bio));
    return;
  }
  std::fill(bio->data.begin(), bio->data.end(), std::byte{0});
  bio->complete(0);
}

// ---------------------------------------------------------------------------------------
// Discards

void ThinTarget::process_discard(BioPtr bio) {
  PoolMode m = pool_->mode();
  if (m == PoolMode::fail) {
    bio->complete(EIO);
    return;
  }
  if (is_read_only_mode(m)) {  // process_bio_success
    bio->complete(0);
    return;
  }
  // BZ-PM-03 reverts "dm thin: fix inability to discard blocks when in out-of-data-space
  // mode": the discard, which only frees space, is refused like an allocating write.
  if (m == PoolMode::out_of_data_space &&
      bugzoo::enabled(bugzoo::BugId::pm03_discard_refused_out_of_data_space)) [[unlikely]] {
    pool_->handle_unserviceable_bio(*this, std::move(bio));
    return;
  }
  // get_bio_block_range: only the blocks the discard covers completely.
  uint32_t spb = pool_->sectors_per_block();
  uint64_t begin = (bio->sector + spb - 1) / spb, end = bio->end_sector() / spb;
  if (end <= begin) {
    bio->complete(0);
    return;
  }
  PoolTarget* pt = pool_->control_target();
  if (pt && pt->adjusted_pf.discard_passdown)
    discard_passdown(std::move(bio), begin, end);
  else
    discard_no_passdown(std::move(bio), begin, end);
}

void ThinTarget::discard_no_passdown(BioPtr bio, uint64_t begin, uint64_t end) {
  try {
    pool_->pmd().remove_range(*td_, begin, end);
  } catch (const PdataError& e) {
    pool_->metadata_operation_failed("dm_thin_remove_range", e.err());
    bio->complete(EIO);
    return;
  }
  bio->complete(0);
}

void ThinTarget::discard_passdown(BioPtr bio, uint64_t begin, uint64_t end) {
  thin::PoolMetadata& pmd = pool_->pmd();
  uint32_t spb = pool_->sectors_per_block();
  int err = 0;
  // The data ranges unmapped and held: each is released once its passdown is done.
  std::vector<std::pair<uint64_t, uint64_t>> held;
  while (begin != end) {
    std::optional<thin::MappedRange> r;
    try {
      r = pmd.find_mapped_range(*td_, begin, end);
    } catch (const PdataError&) {
      break;  // silently stop; what was unmapped stays unmapped
    }
    if (!r) break;
    // process_prepared_discard_passdown_pt1: unmap, hold, pass down.
    uint64_t data_end = r->pool_begin + (r->thin_end - r->thin_begin);
    try {
      pmd.remove_range(*td_, r->thin_begin, r->thin_end);
    } catch (const PdataError& e) {
      pool_->metadata_operation_failed("dm_thin_remove_range", e.err());
      err = EIO;
      break;
    }
    // Hold the freed blocks while the discard is in flight, so they cannot be
    // reallocated under it.
    try {
      pmd.inc_data_range(r->pool_begin, data_end);
    } catch (const PdataError& e) {
      pool_->metadata_operation_failed("dm_pool_inc_data_range", e.err());
      err = EIO;
      break;
    }
    auto pass_down = [&](uint64_t b, uint64_t e) {
      try {  // a failed passdown still unmaps
        pool_->data_dev().discard(b * spb, (e - b) * spb);
      } catch (const std::exception&) {
      }
    };
    try {
      if (!r->maybe_shared) {
        pass_down(r->pool_begin, data_end);
      } else {
        // The lookup's "shared" may be stale: pass down only runs no one else uses.
        for (uint64_t b = r->pool_begin; b < data_end;) {
          while (b < data_end && pmd.block_is_shared(b)) ++b;
          if (b == data_end) break;
          uint64_t e = b + 1;
          while (e < data_end && !pmd.block_is_shared(e)) ++e;
          pass_down(b, e);
          b = e;
        }
      }
    } catch (const PdataError&) {
    }
    held.emplace_back(r->pool_begin, data_end);
    begin = r->thin_end;
  }
  if (held.empty()) {
    bio->complete(err);
    return;
  }
  // process_prepared_discard_passdown_pt2 runs when the passdown completes: in a later
  // worker pass, after this pass's periodic-commit check, which may commit between the
  // two halves.
  std::shared_ptr<Pool> pool = pool_;
  auto parent = std::make_shared<BioPtr>(std::move(bio));
  pool_->queue_discard_pt2([pool, parent, held = std::move(held), err]() mutable {
    for (auto [b, e] : held) {
      try {
        pool->pmd().dec_data_range(b, e);
      } catch (const PdataError& ex) {
        pool->metadata_operation_failed("dm_pool_dec_data_range", ex.err());
        err = EIO;
      }
    }
    (*parent)->complete(err);
  });
}

// ---------------------------------------------------------------------------------------
// Status

std::string ThinTarget::status_info() {
  if (pool_->mode() == PoolMode::fail) return "Fail";
  try {
    uint64_t spb = pool_->sectors_per_block();
    uint64_t mapped = pool_->pmd().mapped_count(*td_);
    auto highest = pool_->pmd().highest_mapped_block(*td_);
    std::string s = std::to_string(mapped * spb) + " ";
    s += highest ? std::to_string((*highest + 1) * spb - 1) : "-";
    return s;
  } catch (const PdataError&) {
    return "Error";
  }
}

std::string ThinTarget::status_table(const std::string& pool_name,
                                     const std::optional<std::string>& origin_name) {
  if (pool_->mode() == PoolMode::fail) return "Fail";
  std::string s = pool_name + " " + std::to_string(dev_id_);
  if (origin_name) s += " " + *origin_name;
  return s;
}

}  // namespace thinsim::pool
