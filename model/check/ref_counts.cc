#include "model/check/ref_counts.h"

namespace thinsim::check {

const char* role_name(BlockRole r) {
  switch (r) {
    case BlockRole::none: return "unused block";
    case BlockRole::superblock: return "superblock";
    case BlockRole::btree_node: return "btree node";
    case BlockRole::bitmap: return "space map bitmap";
    case BlockRole::index: return "metadata space map index";
  }
  return "?";
}

DataRefs::DataRefs(uint64_t nr_blocks)
    : nr_blocks_(nr_blocks), pages_((nr_blocks + kPageMask) >> kPageShift) {}

uint32_t DataRefs::count(uint64_t b) const {
  const auto& p = pages_[b >> kPageShift];
  if (!p) return 0;
  uint8_t c = p[b & kPageMask];
  if (c < kSaturated) return c;
  auto it = overflow_.find(b);
  return kSaturated + (it == overflow_.end() ? 0 : it->second);
}

}  // namespace thinsim::check
