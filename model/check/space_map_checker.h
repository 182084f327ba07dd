// Checks a space map against the reference counts computed by walking the metadata.
// Phase one (account) counts the space map's own blocks as metadata references and
// reads its overflow tree; phase two (compare) reads each bitmap and compares every
// count with the expected one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/check/tree_walker.h"
#include "model/pdata/space_map.h"
#include "model/pdata/space_map_bitmap.h"

namespace thinsim::check {

class SpaceMapChecker {
 public:
  enum class Kind { metadata, data };

  SpaceMapChecker(Kind kind, const pdata::SmRoot& root, BlockReader& reader, MetadataRefs& refs,
                  TreeWalker& walker, Findings& findings);

  // Counts the index, bitmaps and overflow tree as metadata references. Returns false
  // if the space map is too damaged to compare.
  bool account();
  // Fills out[0..n) with the expected counts of blocks [base, base + n).
  using ExpectedCounts = std::function<void(uint64_t base, uint32_t n, uint32_t* out)>;
  // Compares every count with the expected one. Counts below it are fatal (blocks in
  // use could be handed out again); counts above it are leaks (non-fatal).
  void compare(const ExpectedCounts& expected);

  uint64_t nr_blocks() const { return root_.nr_blocks; }
  // Blocks with a non-zero count, as found by compare().
  uint64_t nr_allocated() const { return nr_allocated_; }

 private:
  std::string where() const;
  bool account_metadata_index();
  bool account_disk_index();
  bool account_bitmap(uint64_t i, uint64_t block);
  bool account_overflow();
  void compare_bitmap(uint64_t i, const ExpectedCounts& expected);

  Kind kind_;
  pdata::SmRoot root_;
  BlockReader& reader_;
  MetadataRefs& refs_;
  TreeWalker& walker_;
  Findings& findings_;
  uint64_t nr_bitmaps_ = 0;
  std::vector<pdata::IndexEntry> entries_;
  std::vector<bool> bitmap_ok_;
  std::unordered_map<uint64_t, uint32_t> overflow_;
  bool overflow_ok_ = false;
  uint64_t nr_allocated_ = 0;
};

}  // namespace thinsim::check
