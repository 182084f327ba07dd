#include "model/pdata/space_map_metadata.h"

#include <string>

#include "model/pdata/error.h"

namespace thinsim::pdata {

class SpaceMapMetadata::Recursion {
 public:
  explicit Recursion(SpaceMapMetadata& sm) : sm_(sm) { sm_.recursion_count_++; }
  // Leaving the outermost level applies everything queued meanwhile.
  void leave() {
    if (sm_.recursion_count_ == 1) sm_.apply_ops();
    sm_.recursion_count_--;
    left_ = true;
  }
  ~Recursion() {
    if (!left_) sm_.recursion_count_--;
  }

 private:
  SpaceMapMetadata& sm_;
  bool left_ = false;
};

SpaceMapMetadata::SpaceMapMetadata(TransactionManager& tm)
    : ll_(SpaceMapLowLevel::open_disk(tm, SmRoot{})),
      committed_(ll_) {}

void SpaceMapMetadata::add_op(OpType type, block_t b, block_t e) {
  unsigned next = (ops_end_ + 1) % ops_.size();
  if (next == ops_begin_) throw PdataError(ENOMEM, "too many recursive allocations");
  ops_[ops_end_] = BlockOp{type, b, e};
  ops_end_ = next;
}

void SpaceMapMetadata::apply_ops() {
  while (ops_begin_ != ops_end_) {
    // The op stays queued while it is applied, so count queries made meanwhile see it.
    BlockOp op = ops_[ops_begin_];
    if (op.type == OpType::inc)
      ll_.inc(op.b, op.e);
    else
      ll_.dec(op.b, op.e);
    ops_begin_ = (ops_begin_ + 1) % ops_.size();
  }
}

int64_t SpaceMapMetadata::pending_adjustment(block_t b) const {
  int64_t adj = 0;
  for (unsigned i = ops_begin_; i != ops_end_; i = (i + 1) % ops_.size()) {
    const BlockOp& op = ops_[i];
    if (b < op.b || b >= op.e) continue;
    adj += op.type == OpType::inc ? 1 : -1;
  }
  return adj;
}

block_t SpaceMapMetadata::nr_blocks() const { return ll_.nr_blocks(); }

block_t SpaceMapMetadata::nr_free() const {
  if (mode_ == Mode::bootstrap) return ll_.nr_blocks() - begin_;
  return committed_.nr_blocks() - committed_.nr_allocated() - allocated_this_transaction_;
}

uint32_t SpaceMapMetadata::get_count(block_t b) {
  if (mode_ == Mode::bootstrap) return b < begin_ ? 1 : 0;
  int64_t adj = pending_adjustment(b);
  return static_cast<uint32_t>(ll_.lookup(b) + adj);
}

bool SpaceMapMetadata::count_is_more_than_one(block_t b) {
  if (mode_ == Mode::bootstrap) return false;
  int64_t adj = pending_adjustment(b);
  if (adj > 1) return true;
  uint32_t rc = ll_.lookup_bitmap(b);
  // Counts in the overflow tree are above two, so err on the side of caution.
  if (rc == 3) return true;
  return static_cast<int64_t>(rc) + adj > 1;
}

void SpaceMapMetadata::set_count(block_t b, uint32_t count) {
  if (mode_ == Mode::bootstrap) throw PdataError(EINVAL, "bootstrap doesn't support set_count");
  if (recursion_count_) throw PdataError(EINVAL, "cannot recurse set_count()");
  Recursion r(*this);
  ll_.set_count(b, count);
  r.leave();
}

void SpaceMapMetadata::inc_blocks(block_t b, block_t e) {
  if (mode_ == Mode::bootstrap || recursion_count_) return add_op(OpType::inc, b, e);
  Recursion r(*this);
  ll_.inc(b, e);
  r.leave();
}

void SpaceMapMetadata::dec_blocks(block_t b, block_t e) {
  if (mode_ == Mode::bootstrap || recursion_count_) return add_op(OpType::dec, b, e);
  Recursion r(*this);
  ll_.dec(b, e);
  r.leave();
}

block_t SpaceMapMetadata::new_block_normal() {
  auto b = ll_.find_common_free_block(committed_, begin_);
  // Nothing between the hint and the end: something below it may have been freed.
  if (!b) b = ll_.find_common_free_block(committed_, 0);
  if (!b) throw NoSpaceError("metadata space map is full: unable to allocate new metadata block");
  begin_ = *b + 1;
  if (recursion_count_) {
    add_op(OpType::inc, *b, *b + 1);
  } else {
    Recursion r(*this);
    ll_.inc(*b, *b + 1);
    r.leave();
  }
  allocated_this_transaction_++;
  return *b;
}

block_t SpaceMapMetadata::new_block() {
  if (mode_ == Mode::bootstrap) {
    // The whole new area is known to be unused.
    if (begin_ == ll_.nr_blocks()) throw NoSpaceError("metadata space map is full (bootstrap)");
    return begin_++;
  }
  block_t b = new_block_normal();
  check_threshold(nr_free());
  return b;
}

void SpaceMapMetadata::check_threshold(block_t free) {
  Threshold& t = threshold_;
  auto below = [&](block_t v) { return t.set && v <= t.threshold; };
  bool already = t.value_set && below(t.current);
  if (below(free) && !already) t.fn();
  t.value_set = true;
  t.current = free;
}

void SpaceMapMetadata::register_threshold(block_t threshold, std::function<void()> fn) {
  threshold_.set = true;
  threshold_.threshold = threshold;
  threshold_.fn = std::move(fn);
}

void SpaceMapMetadata::commit() {
  if (mode_ == Mode::bootstrap) return;
  ll_.commit();
  committed_ = ll_;
  allocated_this_transaction_ = 0;
}

void SpaceMapMetadata::extend(block_t extra_blocks) {
  if (mode_ == Mode::bootstrap) throw PdataError(EINVAL, "bootstrap doesn't support extend");
  block_t old_len = ll_.nr_blocks();
  // Allocate everything the extension needs from the new area.
  begin_ = old_len;
  mode_ = Mode::bootstrap;
  try {
    ll_.extend(extra_blocks);
    // Count the blocks just used, which may use more blocks: repeat until a pass
    // allocates nothing new.
    do {
      add_op(OpType::inc, old_len, begin_);
      old_len = begin_;
      apply_ops();
      ll_.commit();
    } while (old_len != begin_);
  } catch (...) {
    mode_ = Mode::normal;
    throw;
  }
  mode_ = Mode::normal;
}

std::unique_ptr<SpaceMapMetadata> SpaceMapMetadata::create(TransactionManager& tm,
                                                           block_t nr_blocks,
                                                           block_t superblock) {
  std::unique_ptr<SpaceMapMetadata> sm(new SpaceMapMetadata(tm));
  tm.set_space_map(sm.get());
  sm->begin_ = superblock + 1;
  sm->mode_ = Mode::bootstrap;
  try {
    sm->ll_ = SpaceMapLowLevel::create_metadata(tm);
    sm->ll_.extend(std::min<block_t>(nr_blocks, kMaxMetadataBlocks));
  } catch (...) {
    sm->mode_ = Mode::normal;
    throw;
  }
  sm->mode_ = Mode::normal;
  // Count the blocks the new structures were built from.
  sm->add_op(OpType::inc, superblock, sm->begin_);
  sm->apply_ops();
  sm->commit();
  return sm;
}

std::unique_ptr<SpaceMapMetadata> SpaceMapMetadata::open(TransactionManager& tm,
                                                         const SmRoot& root) {
  std::unique_ptr<SpaceMapMetadata> sm(new SpaceMapMetadata(tm));
  tm.set_space_map(sm.get());
  sm->ll_ = SpaceMapLowLevel::open_metadata(tm, root);
  sm->begin_ = 0;
  sm->committed_ = sm->ll_;
  return sm;
}

MetadataTransaction create_metadata_transaction(BlockManager& bm, block_t superblock) {
  MetadataTransaction mt;
  mt.tm = std::make_unique<TransactionManager>(bm);
  mt.sm = SpaceMapMetadata::create(*mt.tm, bm.nr_blocks(), superblock);
  return mt;
}

MetadataTransaction open_metadata_transaction(BlockManager& bm, const SmRoot& root) {
  MetadataTransaction mt;
  mt.tm = std::make_unique<TransactionManager>(bm);
  mt.sm = SpaceMapMetadata::open(*mt.tm, root);
  return mt;
}

}  // namespace thinsim::pdata
