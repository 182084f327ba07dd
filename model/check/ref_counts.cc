#include "model/check/ref_counts.h"

#include <algorithm>

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

void DataRefs::counts(uint64_t base, uint32_t n, uint32_t* out) const {
  for (uint32_t i = 0; i < n;) {
    uint64_t b = base + i;
    uint64_t page = b >> kPageShift;
    uint32_t in_page = static_cast<uint32_t>(
        std::min<uint64_t>(n - i, (uint64_t(1) << kPageShift) - (b & kPageMask)));
    if (b >= nr_blocks_ || page >= pages_.size() || !pages_[page]) {
      std::fill(out + i, out + i + in_page, 0u);
    } else {
      const uint8_t* p = pages_[page].get() + (b & kPageMask);
      for (uint32_t k = 0; k < in_page; ++k) out[i + k] = p[k] < kSaturated ? p[k] : count(b + k);
    }
    i += in_page;
  }
}

uint32_t DataRefs::count(uint64_t b) const {
  const auto& p = pages_[b >> kPageShift];
  if (!p) return 0;
  uint8_t c = p[b & kPageMask];
  if (c < kSaturated) return c;
  auto it = overflow_.find(b);
  return kSaturated + (it == overflow_.end() ? 0 : it->second);
}

}  // namespace thinsim::check
