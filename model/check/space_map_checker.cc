#include "model/check/space_map_checker.h"
#include <cstring>

#include "model/pdata/endian.h"

namespace thinsim::check {

using namespace pdata;

SpaceMapChecker::SpaceMapChecker(Kind kind, const SmRoot& root, BlockReader& reader,
                                 MetadataRefs& refs, TreeWalker& walker, Findings& findings)
    : kind_(kind), root_(root), reader_(reader), refs_(refs), walker_(walker),
      findings_(findings) {}

std::string SpaceMapChecker::where() const {
  return kind_ == Kind::metadata ? "metadata space map" : "data space map";
}

bool SpaceMapChecker::account() {
  nr_bitmaps_ = (root_.nr_blocks + kEntriesPerBitmap - 1) / kEntriesPerBitmap;
  // Every bitmap is a distinct metadata block, which bounds what a sane root can claim
  // and keeps hostile sizes from driving allocations.
  if (nr_bitmaps_ > reader_.nr_blocks()) {
    findings_.fatal(std::nullopt, where(),
                    "space map root claims " + std::to_string(root_.nr_blocks) +
                        " blocks, needing " + std::to_string(nr_bitmaps_) +
                        " bitmaps, more than the metadata device holds");
    return false;
  }
  bool ok = kind_ == Kind::metadata ? account_metadata_index() : account_disk_index();
  ok = account_overflow() && ok;
  return ok;
}

bool SpaceMapChecker::account_bitmap(uint64_t i, uint64_t block) {
  std::string at = where() + ", bitmap " + std::to_string(i);
  if (block >= refs_.size()) {
    findings_.fatal(block, at, "bitmap location is beyond the end of the metadata device");
    return false;
  }
  uint32_t earlier = refs_.add(block);
  if (BlockRole other = refs_.claim(block, BlockRole::bitmap); other != BlockRole::none) {
    findings_.fatal(block, at, std::string("block is used both as a bitmap and as a ") +
                                   role_name(other));
    return false;
  }
  if (earlier) {
    findings_.fatal(block, at, "bitmap block is used by more than one index entry");
    return false;
  }
  return true;
}

bool SpaceMapChecker::account_metadata_index() {
  if (root_.nr_blocks > kMaxMetadataBlocks) {
    findings_.fatal(std::nullopt, where(),
                    "space map root claims " + std::to_string(root_.nr_blocks) +
                        " blocks, more than the metadata index can describe (" +
                        std::to_string(kMaxMetadataBlocks) + ")");
    return false;
  }
  // A device shorter than its space map was usually truncated; keep going so the
  // structures that fell off the end are named too.
  bool ok = true;
  if (root_.nr_blocks > reader_.nr_blocks()) {
    findings_.fatal(reader_.nr_blocks(), where(),
                    "space map covers " + std::to_string(root_.nr_blocks) +
                        " blocks but the metadata device ends after " +
                        std::to_string(reader_.nr_blocks()) + " (truncated?)");
    ok = false;
  }
  uint64_t b = root_.bitmap_root;
  if (b >= refs_.size()) {
    findings_.fatal(b, where(), "index block location is beyond the end of the metadata device");
    return false;
  }
  refs_.add(b);
  if (BlockRole other = refs_.claim(b, BlockRole::index); other != BlockRole::none) {
    findings_.fatal(b, where(), std::string("block is used both as the metadata space map index "
                                            "and as a ") + role_name(other));
    return false;
  }
  Block buf;
  std::string error;
  if (!reader_.read_validated(b, BlockKind::metadata_index, buf, error)) {
    findings_.fatal(b, where() + " index", error);
    return false;
  }
  entries_.resize(nr_bitmaps_);
  for (uint64_t i = 0; i < kMaxMetadataBitmaps; ++i) {
    IndexEntry ie = IndexEntry::decode(buf.data() + 16 + IndexEntry::kDiskSize * i);
    if (i < nr_bitmaps_) {
      entries_[i] = ie;
      ok = account_bitmap(i, ie.blocknr) && ok;
    } else if (ie.blocknr || ie.nr_free || ie.none_free_before) {
      findings_.non_fatal(b, where() + " index",
                          "entry " + std::to_string(i) + " is in use beyond the " +
                              std::to_string(nr_bitmaps_) + " bitmaps the space map needs");
    }
  }
  return ok;
}

bool SpaceMapChecker::account_disk_index() {
  entries_.assign(nr_bitmaps_, IndexEntry{});
  std::vector<bool> seen(nr_bitmaps_, false);
  uint64_t extra = 0;
  TreeSpec spec{TreeKind::sm_index, IndexEntry::kDiskSize};
  WalkResult r = walker_.walk(root_.bitmap_root, spec, where() + " index",
                              [&](uint64_t, ConstNode leaf) {
                                for (uint32_t k = 0; k < leaf.nr_entries(); ++k) {
                                  uint64_t key = leaf.key(k);
                                  if (key >= nr_bitmaps_) {
                                    extra++;
                                    continue;
                                  }
                                  seen[key] = true;
                                  entries_[key] = IndexEntry::decode(leaf.value_ptr(k));
                                }
                              });
  if (extra)
    findings_.non_fatal(root_.bitmap_root, where() + " index",
                        std::to_string(extra) + " entries beyond the " +
                            std::to_string(nr_bitmaps_) + " bitmaps the space map needs");
  bool ok = r.ok;
  for (uint64_t i = 0; i < nr_bitmaps_; ++i) {
    if (!seen[i]) {
      if (r.ok)
        findings_.fatal(std::nullopt, where() + " index",
                        "no index entry for bitmap " + std::to_string(i));
      ok = false;
      continue;
    }
    ok = account_bitmap(i, entries_[i].blocknr) && ok;
  }
  return ok;
}

bool SpaceMapChecker::account_overflow() {
  TreeSpec spec{TreeKind::ref_count, 4};
  WalkResult r = walker_.walk(root_.ref_count_root, spec, where() + " reference count tree",
                              [&](uint64_t, ConstNode leaf) {
                                for (uint32_t k = 0; k < leaf.nr_entries(); ++k)
                                  overflow_[leaf.key(k)] = load_le32(leaf.value_ptr(k));
                              });
  overflow_ok_ = r.ok;
  return r.ok;
}

void SpaceMapChecker::compare(const ExpectedCounts& expected) {
  nr_allocated_ = 0;
  for (uint64_t i = 0; i < nr_bitmaps_ && i < entries_.size(); ++i) compare_bitmap(i, expected);
  // Overflow entries must pair with a bitmap value of 3; compare_bitmap erased those.
  if (overflow_ok_) {
    uint64_t stray = 0;
    std::optional<uint64_t> first;
    for (auto& [b, c] : overflow_) {
      (void)c;
      stray++;
      if (!first || b < *first) first = b;
    }
    if (stray)
      findings_.non_fatal(std::nullopt, where() + " reference count tree",
                          std::to_string(stray) +
                              " entries for blocks whose bitmap count is not 'overflowed' (first: "
                              "block " + std::to_string(*first) + ")");
  }
}

void SpaceMapChecker::compare_bitmap(uint64_t i, const ExpectedCounts& expected) {
  const IndexEntry& ie = entries_[i];
  std::string at = where() + ", bitmap " + std::to_string(i);
  Block buf;
  std::string error;
  if (ie.blocknr >= refs_.size() ||
      !reader_.read_validated(ie.blocknr, BlockKind::bitmap, buf, error)) {
    if (ie.blocknr < refs_.size()) findings_.fatal(ie.blocknr, at, error);
    return;
  }
  const char* what = kind_ == Kind::metadata ? "metadata" : "data";
  ConstBitmapEntries bits(buf.data() + kBitmapHeaderSize);
  uint64_t base = i * kEntriesPerBitmap;
  uint32_t zeros_total = 0, zeros_in_range = 0;
  std::optional<uint32_t> first_free;
  uint64_t beyond_in_use = 0;
  std::vector<uint32_t> want_counts(kEntriesPerBitmap);
  expected(base, kEntriesPerBitmap, want_counts.data());

  const std::byte* words = buf.data() + kBitmapHeaderSize;
  for (uint32_t j = 0; j < kEntriesPerBitmap; ++j) {
    uint64_t b = base + j;
    if (j % 32 == 0 && j + 32 <= kEntriesPerBitmap) {
      // Fast path: 32 free entries (one zero 64-bit word) where nothing is expected.
      uint64_t w;
      std::memcpy(&w, words + j / 4, sizeof w);
      bool none_wanted = w == 0;
      for (uint32_t k = 0; k < 32 && none_wanted; ++k)
        none_wanted = want_counts[j + k] == 0;
      if (none_wanted) {
        zeros_total += 32;
        zeros_in_range += uint32_t(std::min<uint64_t>(32, b < root_.nr_blocks ? root_.nr_blocks - b : 0));
        if (!first_free) first_free = j;
        j += 31;
        continue;
      }
    }
    uint32_t raw = bits.get(j);
    if (raw == 0) {
      zeros_total++;
      if (b < root_.nr_blocks) zeros_in_range++;
      if (!first_free) first_free = j;
    }
    if (b >= root_.nr_blocks) {
      if (raw) beyond_in_use++;
      continue;
    }
    uint32_t actual = raw;
    if (raw == 3) {
      auto it = overflow_.find(b);
      if (it == overflow_.end()) {
        if (overflow_ok_)
          findings_.fatal(ie.blocknr, at, std::string(what) + " block " + std::to_string(b) +
                                              " is marked overflowed but the reference count "
                                              "tree has no entry for it");
        continue;
      }
      actual = it->second;
      overflow_.erase(it);
      if (actual < 3)
        findings_.fatal(ie.blocknr, at, std::string(what) + " block " + std::to_string(b) +
                                            " has overflow count " + std::to_string(actual) +
                                            ", which should be at least 3");
    }
    if (actual) nr_allocated_++;
    uint32_t want = want_counts[j];
    if (actual != want) {
      std::string msg = std::string(what) + " reference counts differ for block " +
                        std::to_string(b) + ", expected " + std::to_string(want) +
                        ", but got " + std::to_string(actual);
      if (actual < want)
        findings_.fatal(ie.blocknr, at, msg);
      else
        findings_.non_fatal(ie.blocknr, at, msg + (want == 0 ? " (leaked)" : ""));
    }
  }
  if (beyond_in_use)
    findings_.non_fatal(ie.blocknr, at,
                        std::to_string(beyond_in_use) + " entries beyond the end of the space "
                                                        "map are marked in use");
  // The kernel counts the whole bitmap; some tools count only entries inside the map.
  if (ie.nr_free != zeros_total && ie.nr_free != zeros_in_range)
    findings_.note(ie.blocknr, at, "index entry says " + std::to_string(ie.nr_free) +
                                            " free entries but the bitmap has " +
                                            std::to_string(zeros_in_range));
  if (first_free && ie.none_free_before > *first_free)
    findings_.note(ie.blocknr, at, "index entry's none_free_before is " +
                                            std::to_string(ie.none_free_before) +
                                            " but entry " + std::to_string(*first_free) +
                                            " is free");
}

}  // namespace thinsim::check
