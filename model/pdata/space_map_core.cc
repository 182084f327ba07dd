#include "model/pdata/space_map_core.h"

#include <string>

#include "model/pdata/error.h"

namespace thinsim::pdata {

namespace {
constexpr uint8_t kBig = 255;
}

SpaceMapCore::SpaceMapCore(block_t nr_blocks) : counts_(nr_blocks, 0), committed_used_(nr_blocks) {}

void SpaceMapCore::check(block_t b) const {
  if (b >= counts_.size())
    throw PdataError(EINVAL, "block " + std::to_string(b) + " out of bounds of a space map of " +
                                 std::to_string(counts_.size()) + " blocks");
}

block_t SpaceMapCore::nr_free() const {
  return committed_used_.size() - committed_nr_allocated_ -
         (nr_allocated_ - committed_nr_allocated_);
}

uint32_t SpaceMapCore::get_count(block_t b) {
  check(b);
  return counts_[b] == kBig ? big_.at(b) : counts_[b];
}

void SpaceMapCore::set_count(block_t b, uint32_t count) {
  uint32_t old = get_count(b);
  if (count >= kBig) {
    counts_[b] = kBig;
    big_[b] = count;
  } else {
    counts_[b] = static_cast<uint8_t>(count);
    big_.erase(b);
  }
  if (!old && count) nr_allocated_++;
  if (old && !count) nr_allocated_--;
}

void SpaceMapCore::inc_blocks(block_t b, block_t e) {
  for (; b < e; ++b) set_count(b, get_count(b) + 1);
}

void SpaceMapCore::dec_blocks(block_t b, block_t e) {
  for (; b < e; ++b) {
    uint32_t c = get_count(b);
    if (!c)
      throw PdataError(EINVAL, "unable to decrement block " + std::to_string(b) +
                                   ": its reference count is already zero");
    set_count(b, c - 1);
  }
}

bool SpaceMapCore::allocatable(block_t b) const {
  return counts_[b] == 0 && (b >= committed_used_.size() || !committed_used_[b]);
}

std::optional<block_t> SpaceMapCore::find_free(block_t begin) const {
  for (block_t b = begin; b < counts_.size(); ++b)
    if (allocatable(b)) return b;
  return std::nullopt;
}

block_t SpaceMapCore::new_block() {
  auto b = find_free(begin_);
  if (!b) b = find_free(0);
  if (!b) throw NoSpaceError("in-core space map is full");
  begin_ = *b + 1;
  set_count(*b, 1);
  return *b;
}

void SpaceMapCore::commit() {
  committed_used_.resize(counts_.size());
  for (block_t b = 0; b < counts_.size(); ++b) committed_used_[b] = counts_[b] != 0;
  committed_nr_allocated_ = nr_allocated_;
}

void SpaceMapCore::extend(block_t extra_blocks) { counts_.resize(counts_.size() + extra_blocks, 0); }

SmRoot SpaceMapCore::root() const {
  throw PdataError(EINVAL, "an in-core space map has no on-disk root");
}

}  // namespace thinsim::pdata
