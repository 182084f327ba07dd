#include "model/pdata/space_map_low_level.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/bugzoo/bug_switch.h"
#include "model/pdata/error.h"

namespace thinsim::pdata {
namespace {

PlainValueType& index_entry_type() {
  static PlainValueType t(IndexEntry::kDiskSize);
  return t;
}

PlainValueType& ref_count_type() {
  static PlainValueType t(4);
  return t;
}

uint64_t div_up(uint64_t n, uint64_t d) { return (n + d - 1) / d; }

bool leaf_contains(ConstNode n, uint64_t key, int index) {
  return index >= 0 && static_cast<uint32_t>(index) < n.nr_entries() &&
         n.key(static_cast<uint32_t>(index)) == key;
}

}  // namespace

// Locks held while a range of one bitmap is being updated (the kernel's inc_context).
struct SpaceMapLowLevel::IncContext {
  IndexEntry ie;
  WriteRef bitmap;
  WriteRef overflow_leaf;

  void reset() {
    bitmap.release();
    overflow_leaf.release();
  }
};

BtreeInfo SpaceMapLowLevel::ref_count_info() { return BtreeInfo{*tm_, 1, ref_count_type()}; }
BtreeInfo SpaceMapLowLevel::bitmap_info() { return BtreeInfo{*tm_, 1, index_entry_type()}; }

SpaceMapLowLevel SpaceMapLowLevel::create_metadata(TransactionManager& tm) {
  SpaceMapLowLevel ll(tm, Kind::metadata);
  ll.bitmap_root_ = tm.new_block(index_validator()).location();
  BtreeInfo rc = ll.ref_count_info();
  ll.ref_count_root_ = btree_empty(rc);
  return ll;
}

SpaceMapLowLevel SpaceMapLowLevel::create_disk(TransactionManager& tm) {
  SpaceMapLowLevel ll(tm, Kind::disk);
  BtreeInfo bi = ll.bitmap_info();
  ll.bitmap_root_ = btree_empty(bi);
  BtreeInfo rc = ll.ref_count_info();
  ll.ref_count_root_ = btree_empty(rc);
  return ll;
}

SpaceMapLowLevel SpaceMapLowLevel::open_metadata(TransactionManager& tm, const SmRoot& root) {
  SpaceMapLowLevel ll(tm, Kind::metadata);
  ll.nr_blocks_ = root.nr_blocks;
  ll.nr_allocated_ = root.nr_allocated;
  ll.bitmap_root_ = root.bitmap_root;
  ll.ref_count_root_ = root.ref_count_root;
  ReadRef r = tm.read_lock(ll.bitmap_root_, index_validator());
  std::memcpy(ll.mi_.data(), r.data(), kMetadataBlockSize);
  return ll;
}

SpaceMapLowLevel SpaceMapLowLevel::open_disk(TransactionManager& tm, const SmRoot& root) {
  SpaceMapLowLevel ll(tm, Kind::disk);
  ll.nr_blocks_ = root.nr_blocks;
  ll.nr_allocated_ = root.nr_allocated;
  ll.bitmap_root_ = root.bitmap_root;
  ll.ref_count_root_ = root.ref_count_root;
  return ll;
}

block_t SpaceMapLowLevel::max_index_entries() const {
  return kind_ == Kind::metadata ? kMaxMetadataBitmaps : ~block_t(0);
}

void SpaceMapLowLevel::ie_cache_writeback(IeCacheSlot& slot) {
  slot.dirty = false;
  std::byte v[IndexEntry::kDiskSize];
  slot.ie.encode(v);
  BtreeInfo bi = bitmap_info();
  uint64_t key = slot.index;
  bitmap_root_ = btree_insert(bi, bitmap_root_, std::span(&key, 1), v).new_root;
}

IndexEntry SpaceMapLowLevel::load_index_entry(block_t index) {
  if (kind_ == Kind::metadata) {
    if (index >= kMaxMetadataBitmaps)
      throw CorruptionError(EINVAL, bitmap_root_,
                            "metadata space map index entry " + std::to_string(index) +
                                " is beyond the index block's " +
                                std::to_string(kMaxMetadataBitmaps) + " entries");
    return IndexEntry::decode(mi_.data() + 16 + IndexEntry::kDiskSize * index);
  }
  IeCacheSlot& slot = ie_cache_[dm_hash_block(index, kIeCacheSize - 1)];
  if (slot.valid) {
    if (slot.index == index) return slot.ie;
    if (slot.dirty) ie_cache_writeback(slot);
  }
  std::byte v[IndexEntry::kDiskSize];
  BtreeInfo bi = bitmap_info();
  if (!btree_lookup(bi, bitmap_root_, std::span(&index, 1), v))
    throw PdataError(ENODATA, "space map index has no entry for bitmap " + std::to_string(index));
  slot.valid = true;
  slot.dirty = false;
  slot.index = index;
  slot.ie = IndexEntry::decode(v);
  return slot.ie;
}

void SpaceMapLowLevel::save_index_entry(block_t index, const IndexEntry& ie) {
  bitmap_index_changed_ = true;
  if (kind_ == Kind::metadata) {
    if (index >= kMaxMetadataBitmaps)
      throw PdataError(EINVAL, "metadata space map index entry out of range");
    ie.encode(mi_.data() + 16 + IndexEntry::kDiskSize * index);
    return;
  }
  IeCacheSlot& slot = ie_cache_[dm_hash_block(index, kIeCacheSize - 1)];
  if (slot.valid) {
    if (slot.index == index) {
      slot.ie = ie;
      slot.dirty = true;
      return;
    }
    if (slot.dirty) ie_cache_writeback(slot);
  }
  slot.valid = true;
  slot.dirty = true;
  slot.index = index;
  slot.ie = ie;
}

void SpaceMapLowLevel::extend(block_t extra_blocks) {
  block_t nr_blocks = nr_blocks_ + extra_blocks;
  block_t old_bitmaps = div_up(nr_blocks_, kEntriesPerBitmap);
  block_t bitmaps = div_up(nr_blocks, kEntriesPerBitmap);
  if (bitmaps > max_index_entries())
    throw PdataError(EINVAL, "space map too large: " + std::to_string(nr_blocks) + " blocks");
  // Set before allocating: the new bitmaps may be allocated from this very map.
  nr_blocks_ = nr_blocks;
  for (block_t i = old_bitmaps; i < bitmaps; ++i) {
    IndexEntry ie;
    ie.blocknr = tm_->new_block(bitmap_validator()).location();
    ie.nr_free = kEntriesPerBitmap;
    ie.none_free_before = 0;
    save_index_entry(i, ie);
  }
}

uint32_t SpaceMapLowLevel::lookup_bitmap(block_t b) {
  if (b >= nr_blocks_)
    throw PdataError(EINVAL, "block " + std::to_string(b) + " out of bounds of a space map of " +
                                 std::to_string(nr_blocks_) + " blocks");
  IndexEntry ie = load_index_entry(b / kEntriesPerBitmap);
  ReadRef r = tm_->read_lock(ie.blocknr, bitmap_validator());
  return ConstBitmapEntries(r.data() + kBitmapHeaderSize).get(b % kEntriesPerBitmap);
}

std::optional<uint32_t> SpaceMapLowLevel::lookup_overflow(block_t b) {
  std::byte v[4];
  BtreeInfo rc = ref_count_info();
  if (!btree_lookup(rc, ref_count_root_, std::span(&b, 1), v)) return std::nullopt;
  return load_le32(v);
}

uint32_t SpaceMapLowLevel::lookup(block_t b) {
  uint32_t v = lookup_bitmap(b);
  if (v != 3) return v;
  auto big = lookup_overflow(b);
  if (!big)
    throw PdataError(ENODATA, "block " + std::to_string(b) +
                                  " is marked as overflowed but the ref count tree has no entry");
  return *big;
}

std::optional<block_t> SpaceMapLowLevel::find_free_block(block_t begin, block_t end) {
  block_t index_begin = begin / kEntriesPerBitmap;
  uint32_t begin_bit = static_cast<uint32_t>(begin % kEntriesPerBitmap);
  block_t index_end = div_up(end, kEntriesPerBitmap);
  uint32_t end_bit = static_cast<uint32_t>(end % kEntriesPerBitmap);
  if (end_bit == 0) end_bit = kEntriesPerBitmap;

  for (block_t i = index_begin; i < index_end; ++i, begin_bit = 0) {
    IndexEntry ie = load_index_entry(i);
    if (ie.nr_free == 0) continue;
    ReadRef r = tm_->read_lock(ie.blocknr, bitmap_validator());
    uint32_t bit_end = (i == index_end - 1) ? end_bit : kEntriesPerBitmap;
    auto pos = ConstBitmapEntries(r.data() + kBitmapHeaderSize)
                   .find_free(std::max(begin_bit, ie.none_free_before), bit_end);
    // Nothing found may just mean the search started part way through the bitmap.
    if (pos) return i * kEntriesPerBitmap + *pos;
  }
  return std::nullopt;
}

std::optional<block_t> SpaceMapLowLevel::find_common_free_block(SpaceMapLowLevel& committed,
                                                                block_t begin) {
  if (bugzoo::enabled(bugzoo::BugId::sm03_allocator_checks_old_map_only)) [[unlikely]] {
    // BZ-SM-03 reverts 4feaef830de7 "dm space map common: fix to ensure new block isn't
    // already in use": only the committed map is searched, from the caller's cursor, so
    // a block this transaction already uses is handed out again once the cursor wraps.
    return committed.find_free_block(begin, committed.nr_blocks_);
  }
  for (;;) {
    auto b = find_free_block(begin, nr_blocks_);
    if (!b) return std::nullopt;
    if (*b >= committed.nr_blocks_ || committed.lookup(*b) == 0) return b;
    begin = *b + 1;
  }
}

int64_t SpaceMapLowLevel::set_count(block_t b, uint32_t ref_count) {
  block_t index = b / kEntriesPerBitmap;
  uint32_t bit = static_cast<uint32_t>(b % kEntriesPerBitmap);
  IndexEntry ie = load_index_entry(index);
  ShadowResult nb = tm_->shadow_block(ie.blocknr, bitmap_validator());
  ie.blocknr = nb.block.location();
  BitmapEntries bm(nb.block.data() + kBitmapHeaderSize);

  uint32_t old = bm.get(bit);
  if (old > 2) {
    auto big = lookup_overflow(b);
    if (!big) throw PdataError(ENODATA, "overflow ref count missing for block " + std::to_string(b));
    old = *big;
  }
  BtreeInfo rc = ref_count_info();
  if (ref_count <= 2) {
    bm.set(bit, ref_count);
    nb.block.release();
    if (old > 2) ref_count_root_ = btree_remove(rc, ref_count_root_, std::span(&b, 1));
  } else {
    bm.set(bit, 3);
    nb.block.release();
    std::byte v[4];
    store_le32(v, ref_count);
    ref_count_root_ = btree_insert(rc, ref_count_root_, std::span(&b, 1), v).new_root;
  }

  int64_t delta = 0;
  if (ref_count && !old) {
    delta = 1;
    nr_allocated_++;
    ie.nr_free--;
    if (ie.none_free_before == bit) ie.none_free_before = bit + 1;
  } else if (old && !ref_count) {
    delta = -1;
    nr_allocated_--;
    ie.nr_free++;
    ie.none_free_before = std::min(ie.none_free_before, bit);
  }
  save_index_entry(index, ie);
  return delta;
}

void SpaceMapLowLevel::inc_overflow(block_t b, IncContext& ic) {
  if (ic.overflow_leaf) {
    Node n(ic.overflow_leaf.data());
    int i = n.lower_bound(b);
    if (leaf_contains(n, b, i)) {
      std::byte* v = n.value_ptr(static_cast<uint32_t>(i));
      store_le32(v, load_le32(v) + 1);
      return;
    }
  }
  // Getting the leaf may allocate, which may read the bitmaps: drop our locks first.
  ic.reset();
  BtreeInfo rc = ref_count_info();
  OverwriteLeaf ol = btree_get_overwrite_leaf(rc, ref_count_root_, b);
  ref_count_root_ = ol.new_root;
  ic.overflow_leaf = std::move(ol.leaf);
  Node n(ic.overflow_leaf.data());
  if (!leaf_contains(n, b, static_cast<int>(ol.index)))
    throw PdataError(EINVAL, "overflow btree is missing an entry");
  std::byte* v = n.value_ptr(ol.index);
  store_le32(v, load_le32(v) + 1);
}

// Returns the count before the decrement.
uint32_t SpaceMapLowLevel::dec_overflow(block_t b, IncContext& ic) {
  BtreeInfo rc = ref_count_info();
  auto remove_entry = [&] {
    ic.reset();
    ref_count_root_ = btree_remove(rc, ref_count_root_, std::span(&b, 1));
  };
  if (ic.overflow_leaf) {
    Node n(ic.overflow_leaf.data());
    int i = n.lower_bound(b);
    if (leaf_contains(n, b, i)) {
      std::byte* v = n.value_ptr(static_cast<uint32_t>(i));
      uint32_t rc_value = load_le32(v);
      if (rc_value > 3)
        store_le32(v, rc_value - 1);
      else
        remove_entry();
      return rc_value;
    }
  }
  ic.reset();
  OverwriteLeaf ol = btree_get_overwrite_leaf(rc, ref_count_root_, b);
  ref_count_root_ = ol.new_root;
  ic.overflow_leaf = std::move(ol.leaf);
  Node n(ic.overflow_leaf.data());
  if (!leaf_contains(n, b, static_cast<int>(ol.index)))
    throw PdataError(EINVAL, "overflow btree is missing an entry");
  std::byte* v = n.value_ptr(ol.index);
  uint32_t rc_value = load_le32(v);
  if (rc_value == 3)
    remove_entry();
  else
    store_le32(v, rc_value - 1);
  return rc_value;
}

int64_t SpaceMapLowLevel::inc_one_bitmap(block_t b, block_t e, block_t& next) {
  block_t index = b / kEntriesPerBitmap;
  uint32_t bit = static_cast<uint32_t>(b % kEntriesPerBitmap);
  IncContext ic;
  ic.ie = load_index_entry(index);
  {
    ShadowResult r = tm_->shadow_block(ic.ie.blocknr, bitmap_validator());
    ic.bitmap = std::move(r.block);
    ic.ie.blocknr = ic.bitmap.location();
  }
  uint32_t bit_end = static_cast<uint32_t>(std::min<uint64_t>(bit + (e - b), kEntriesPerBitmap));
  int64_t delta = 0;
  for (; bit != bit_end; ++bit, ++b) {
    // The bitmap is dropped whenever the overflow tree needs work; take it back.
    if (!ic.bitmap) ic.bitmap = tm_->bm().write_lock(ic.ie.blocknr, &bitmap_validator());
    BitmapEntries bm(ic.bitmap.data() + kBitmapHeaderSize);
    switch (bm.get(bit)) {
      case 0:
        bm.set(bit, 1);
        delta++;
        nr_allocated_++;
        ic.ie.nr_free--;
        if (ic.ie.none_free_before == bit) ic.ie.none_free_before = bit + 1;
        break;
      case 1:
        bm.set(bit, 2);
        break;
      case 2: {
        bm.set(bit, 3);
        ic.reset();
        std::byte v[4];
        store_le32(v, 3);
        BtreeInfo rc = ref_count_info();
        ref_count_root_ = btree_insert(rc, ref_count_root_, std::span(&b, 1), v).new_root;
        break;
      }
      default:
        inc_overflow(b, ic);
    }
  }
  next = b;
  ic.reset();
  save_index_entry(index, ic.ie);
  return delta;
}

int64_t SpaceMapLowLevel::dec_one_bitmap(block_t b, block_t e, block_t& next) {
  block_t index = b / kEntriesPerBitmap;
  uint32_t bit = static_cast<uint32_t>(b % kEntriesPerBitmap);
  IncContext ic;
  ic.ie = load_index_entry(index);
  {
    ShadowResult r = tm_->shadow_block(ic.ie.blocknr, bitmap_validator());
    ic.bitmap = std::move(r.block);
    ic.ie.blocknr = ic.bitmap.location();
  }
  uint32_t bit_end = static_cast<uint32_t>(std::min<uint64_t>(bit + (e - b), kEntriesPerBitmap));
  int64_t delta = 0;
  for (; bit != bit_end; ++bit, ++b) {
    if (!ic.bitmap) ic.bitmap = tm_->bm().write_lock(ic.ie.blocknr, &bitmap_validator());
    BitmapEntries bm(ic.bitmap.data() + kBitmapHeaderSize);
    switch (bm.get(bit)) {
      case 0:
        // BZ-SM-02 reverts 5b564d80f8bc "dm space map: disallow decrementing a reference
        // count below zero": the underflow goes unnoticed and the count stays 0.
        if (bugzoo::enabled(bugzoo::BugId::sm02_dec_below_zero_accepted)) [[unlikely]] break;
        throw PdataError(EINVAL, "unable to decrement block " + std::to_string(b) +
                                     ": its reference count is already zero");
      case 1:
        bm.set(bit, 0);
        delta--;
        nr_allocated_--;
        ic.ie.nr_free++;
        ic.ie.none_free_before = std::min(ic.ie.none_free_before, bit);
        break;
      case 2:
        bm.set(bit, 1);
        break;
      default:
        if (dec_overflow(b, ic) == 3) {
          if (!ic.bitmap) ic.bitmap = tm_->bm().write_lock(ic.ie.blocknr, &bitmap_validator());
          BitmapEntries(ic.bitmap.data() + kBitmapHeaderSize).set(bit, 2);
        }
    }
  }
  next = b;
  ic.reset();
  save_index_entry(index, ic.ie);
  return delta;
}

int64_t SpaceMapLowLevel::inc(block_t b, block_t e) {
  int64_t delta = 0;
  while (b != e) delta += inc_one_bitmap(b, e, b);
  return delta;
}

int64_t SpaceMapLowLevel::dec(block_t b, block_t e) {
  int64_t delta = 0;
  while (b != e) delta += dec_one_bitmap(b, e, b);
  return delta;
}

void SpaceMapLowLevel::commit() {
  if (!bitmap_index_changed_) return;
  if (kind_ == Kind::metadata) {
    ShadowResult r = tm_->shadow_block(bitmap_root_, index_validator());
    std::memcpy(r.block.data(), mi_.data(), kMetadataBlockSize);
    bitmap_root_ = r.block.location();
  } else {
    for (IeCacheSlot& slot : ie_cache_)
      if (slot.valid && slot.dirty) ie_cache_writeback(slot);
  }
  bitmap_index_changed_ = false;
}

}  // namespace thinsim::pdata
