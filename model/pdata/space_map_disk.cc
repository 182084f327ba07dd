#include "model/pdata/space_map_disk.h"

#include "model/pdata/error.h"

namespace thinsim::pdata {

std::unique_ptr<SpaceMapDisk> SpaceMapDisk::create(TransactionManager& tm, block_t nr_blocks) {
  std::unique_ptr<SpaceMapDisk> sm(new SpaceMapDisk(SpaceMapLowLevel::create_disk(tm)));
  sm->ll_.extend(nr_blocks);
  sm->commit();
  return sm;
}

std::unique_ptr<SpaceMapDisk> SpaceMapDisk::open(TransactionManager& tm, const SmRoot& root) {
  std::unique_ptr<SpaceMapDisk> sm(new SpaceMapDisk(SpaceMapLowLevel::open_disk(tm, root)));
  sm->commit();
  return sm;
}

block_t SpaceMapDisk::nr_free() const {
  return committed_.nr_blocks() - committed_.nr_allocated() - allocated_this_transaction_;
}

void SpaceMapDisk::set_count(block_t b, uint32_t count) {
  allocated_this_transaction_ += ll_.set_count(b, count);
}

void SpaceMapDisk::inc_blocks(block_t b, block_t e) { allocated_this_transaction_ += ll_.inc(b, e); }

void SpaceMapDisk::dec_blocks(block_t b, block_t e) { allocated_this_transaction_ += ll_.dec(b, e); }

block_t SpaceMapDisk::new_block() {
  auto b = ll_.find_common_free_block(committed_, begin_);
  // Nothing between the hint and the end: something below it may have been freed.
  if (!b) b = ll_.find_common_free_block(committed_, 0);
  if (!b) throw NoSpaceError("data space map is full");
  begin_ = *b + 1;
  allocated_this_transaction_ += ll_.inc(*b, *b + 1);
  return *b;
}

void SpaceMapDisk::commit() {
  ll_.commit();
  committed_ = ll_;
  allocated_this_transaction_ = 0;
}

}  // namespace thinsim::pdata
