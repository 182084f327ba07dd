// Space-map bitmap blocks: a 16-byte header {csum, not_used, blocknr} and then 2 bits
// per block. Within each little-endian u64 word, entry j uses bit 2j as the high bit and
// bit 2j+1 as the low bit: 0 free, 1 and 2 the count, 3 "see the overflow tree".
#pragma once

#include <cstdint>
#include <optional>

#include "model/pdata/endian.h"
#include "model/pdata/geometry.h"

namespace thinsim::pdata {

inline constexpr uint32_t kBitmapHeaderSize = 16;
inline constexpr uint32_t kEntriesPerBitmap = (kMetadataBlockSize - kBitmapHeaderSize) * 4;  // 16320
inline constexpr uint32_t kEntriesPerWord = 32;
inline constexpr uint32_t kMaxMetadataBitmaps = 255;
inline constexpr uint64_t kMaxMetadataBlocks = uint64_t(kMaxMetadataBitmaps) * kEntriesPerBitmap;

// Index entry (disk_index_entry): where a bitmap lives and a summary of it.
struct IndexEntry {
  uint64_t blocknr = 0;
  uint32_t nr_free = 0;
  uint32_t none_free_before = 0;  // every entry below this is known to be in use

  static constexpr size_t kDiskSize = 16;
  void encode(std::byte* out) const {
    store_le64(out, blocknr);
    store_le32(out + 8, nr_free);
    store_le32(out + 12, none_free_before);
  }
  static IndexEntry decode(const std::byte* in) {
    return IndexEntry{load_le64(in), load_le32(in + 8), load_le32(in + 12)};
  }
  bool operator==(const IndexEntry&) const = default;
};

// Operations on the entry area of a bitmap block (the bytes after the header).
template <typename Byte>
class BasicBitmapEntries {
 public:
  explicit BasicBitmapEntries(Byte* area) : p_(area) {}

  uint32_t get(uint32_t i) const { return decode(word(i), i); }
  void set(uint32_t i, uint32_t value) const {
    uint64_t w = word(i);
    uint32_t shift = (i % kEntriesPerWord) * 2;
    w &= ~(uint64_t(3) << shift);
    w |= uint64_t(((value & 2) ? 1 : 0) | ((value & 1) ? 2 : 0)) << shift;
    store_le64(p_ + 8 * (i / kEntriesPerWord), w);
  }
  // All 32 entries of the word holding entry i are non-zero.
  bool word_used(uint32_t i) const {
    constexpr uint64_t kHigh = 0xAAAAAAAAAAAAAAAAull;
    uint64_t bits = word(i);
    uint64_t mask = (bits + kHigh + 1) & kHigh;
    return !(~bits & mask);
  }
  // First free entry in [begin, end), skipping whole used words (sm_find_free).
  std::optional<uint32_t> find_free(uint32_t begin, uint32_t end) const {
    while (begin < end) {
      if (begin % kEntriesPerWord == 0 && word_used(begin)) {
        begin += kEntriesPerWord;
        continue;
      }
      if (get(begin) == 0) return begin;
      begin++;
    }
    return std::nullopt;
  }

  static uint32_t decode(uint64_t word, uint32_t i) {
    uint32_t shift = (i % kEntriesPerWord) * 2;
    uint32_t hi = (word >> shift) & 1, lo = (word >> (shift + 1)) & 1;
    return (hi << 1) | lo;
  }

 private:
  uint64_t word(uint32_t i) const { return load_le64(p_ + 8 * (i / kEntriesPerWord)); }
  Byte* p_;
};

using BitmapEntries = BasicBitmapEntries<std::byte>;
using ConstBitmapEntries = BasicBitmapEntries<const std::byte>;

}  // namespace thinsim::pdata
