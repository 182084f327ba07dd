// Reference counts the checker computes by walking the metadata, to compare with the
// space maps. Metadata blocks are few (bounded by the device), so they get a dense
// array that also records what each block was used as. Data blocks can be many and
// sparse, so their counts live in lazily allocated pages.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace thinsim::check {

enum class BlockRole : uint8_t { none, superblock, btree_node, bitmap, index };

const char* role_name(BlockRole r);

class MetadataRefs {
 public:
  explicit MetadataRefs(uint64_t nr_blocks) : counts_(nr_blocks, 0), roles_(nr_blocks) {}

  uint64_t size() const { return counts_.size(); }
  // Adds a reference; returns the count before it.
  uint32_t add(uint64_t b) { return counts_[b]++; }
  uint32_t count(uint64_t b) const { return counts_[b]; }
  // Counts of [base, base + n) (zero beyond the end).
  void counts(uint64_t base, uint32_t n, uint32_t* out) const {
    for (uint32_t i = 0; i < n; ++i) out[i] = base + i < counts_.size() ? counts_[base + i] : 0;
  }
  BlockRole role(uint64_t b) const { return roles_[b]; }
  // Records a block's role; returns the earlier, different role if there was one.
  BlockRole claim(uint64_t b, BlockRole r) {
    BlockRole old = roles_[b];
    if (old == BlockRole::none) roles_[b] = r;
    return old == r ? BlockRole::none : old;
  }

 private:
  std::vector<uint32_t> counts_;
  std::vector<BlockRole> roles_;
};

class DataRefs {
 public:
  // nr_blocks must already be bounded (the page table costs 8 bytes per 64 Ki blocks).
  explicit DataRefs(uint64_t nr_blocks);

  void inc(uint64_t b) {
    uint8_t* page = page_for(b);
    uint8_t& c = page[b & kPageMask];
    if (c < kSaturated)
      c++;
    else
      overflow_[b]++;
  }
  uint32_t count(uint64_t b) const;
  // Counts of [base, base + n) (zero beyond the end).
  void counts(uint64_t base, uint32_t n, uint32_t* out) const;
  uint64_t nr_blocks() const { return nr_blocks_; }

 private:
  static constexpr unsigned kPageShift = 16;
  static constexpr uint64_t kPageMask = (uint64_t(1) << kPageShift) - 1;
  static constexpr uint8_t kSaturated = 255;

  uint8_t* page_for(uint64_t b) {
    auto& p = pages_[b >> kPageShift];
    if (!p) p = std::make_unique<uint8_t[]>(size_t(1) << kPageShift);
    return p.get();
  }

  uint64_t nr_blocks_;
  std::vector<std::unique_ptr<uint8_t[]>> pages_;
  std::unordered_map<uint64_t, uint32_t> overflow_;  // counts beyond 255
};

}  // namespace thinsim::check
