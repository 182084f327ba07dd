// Unit tests of the persistent-data layers' building blocks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <random>

#include "fault/faulty_disk.h"
#include "model/pdata/block_manager.h"
#include "model/pdata/btree_node.h"
#include "model/pdata/checksum.h"
#include "model/pdata/error.h"
#include "model/pdata/file_block_device.h"
#include "model/pdata/memory_block_device.h"
#include "model/pdata/space_map_bitmap.h"
#include "model/pdata/space_map.h"

using namespace thinsim::pdata;

namespace {

std::span<const std::byte> bytes(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

}  // namespace

TEST(Crc32c, StandardVector) {
  // The standard CRC-32C check value of "123456789" (with the usual inversions).
  const char* s = "123456789";
  EXPECT_EQ(crc32c_update(0xffffffffu, s, 9) ^ 0xffffffffu, 0xE3069283u);
}

TEST(Crc32c, MatchesPortableImplementationOnRandomData) {
  // Split updates must equal one update, whatever the alignment and length.
  std::mt19937_64 rng(7);
  std::vector<unsigned char> data(5000);
  for (auto& c : data) c = static_cast<unsigned char>(rng());
  uint32_t whole = crc32c_update(0xffffffffu, data.data(), data.size());
  for (size_t split : {1u, 3u, 8u, 777u, 4999u}) {
    uint32_t a = crc32c_update(0xffffffffu, data.data(), split);
    EXPECT_EQ(crc32c_update(a, data.data() + split, data.size() - split), whole);
  }
}

TEST(Checksum, ZeroBlockVectorsPerKind) {
  // From the format notes: bytes 4..4095 all zero.
  std::array<std::byte, 4096> block{};
  EXPECT_EQ(block_checksum(block.data(), BlockKind::superblock), 0x58CFD397u);
  EXPECT_EQ(block_checksum(block.data(), BlockKind::btree_node), 0x58CC7E82u);
  EXPECT_EQ(block_checksum(block.data(), BlockKind::bitmap), 0x58CE0B1Au);
  EXPECT_EQ(block_checksum(block.data(), BlockKind::metadata_index), 0x58CFD54Fu);
}

TEST(Checksum, IdentifiesBlockKind) {
  std::array<std::byte, 4096> block{};
  block[100] = std::byte{42};
  for (BlockKind k : {BlockKind::superblock, BlockKind::btree_node, BlockKind::bitmap,
                      BlockKind::metadata_index}) {
    store_le32(block.data(), block_checksum(block.data(), k));
    ASSERT_TRUE(identify_block(block.data()).has_value());
    EXPECT_EQ(*identify_block(block.data()), k);
  }
  block[5] = std::byte{1};
  EXPECT_FALSE(identify_block(block.data()).has_value());
}

TEST(MemoryBlockDevice, IsSparseAndReadsZeroesWhereUnwritten) {
  MemoryBlockDevice dev(uint64_t(1) << 40);  // 512 TiB
  std::vector<std::byte> data(512, std::byte{0xab}), out(1024);
  dev.write((uint64_t(1) << 39) + 3, bytes(data));
  EXPECT_EQ(dev.nr_pages_held(), 1u);
  dev.read((uint64_t(1) << 39) + 2, out);
  EXPECT_EQ(out[0], std::byte{0});
  EXPECT_EQ(out[512], std::byte{0xab});
  EXPECT_EQ(out[1023], std::byte{0xab});
}

TEST(MemoryBlockDevice, DiscardZeroesAndFreesWholePages) {
  MemoryBlockDevice dev(64);  // eight 4 KiB pages
  std::vector<std::byte> data(64 * 512, std::byte{1}), out(512);
  dev.write(0, bytes(data));
  EXPECT_EQ(dev.nr_pages_held(), 8u);
  dev.discard(4, 20);  // half of page 0, all of pages 1 and 2
  EXPECT_EQ(dev.nr_pages_held(), 6u);
  dev.read(3, out);
  EXPECT_EQ(out[0], std::byte{1});
  dev.read(4, out);
  EXPECT_EQ(out[0], std::byte{0});
  dev.read(24, out);
  EXPECT_EQ(out[0], std::byte{1});
}

TEST(MemoryBlockDevice, RejectsPartialSectorsAndOutOfRange) {
  MemoryBlockDevice dev(8);
  std::vector<std::byte> odd(100), two(1024);
  EXPECT_THROW(dev.write(0, bytes(odd)), std::invalid_argument);
  EXPECT_THROW(dev.write(7, bytes(two)), std::invalid_argument);
  EXPECT_THROW(dev.read(8, std::span<std::byte>(two.data(), 512)), std::invalid_argument);
}

TEST(FileBlockDevice, ReadsWritesAndDiscards) {
  auto path = std::filesystem::temp_directory_path() / ("thinsim-fbd-" + std::to_string(getpid()));
  {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(ftruncate(fileno(f), 1 << 20), 0);
    fclose(f);
  }
  {
    FileBlockDevice dev(path, FileBlockDevice::Mode::read_write);
    EXPECT_EQ(dev.nr_sectors(), 2048u);
    std::vector<std::byte> data(4096, std::byte{7}), out(4096);
    dev.write(8, bytes(data), WriteFlags{true});
    dev.read(8, out);
    EXPECT_EQ(out, data);
    dev.discard(8, 8);
    dev.read(8, out);
    EXPECT_EQ(out, std::vector<std::byte>(4096));
  }
  FileBlockDevice ro(path, FileBlockDevice::Mode::read_only);
  std::vector<std::byte> data(512);
  EXPECT_THROW(ro.write(0, bytes(data)), IoError);
  std::filesystem::remove(path);
  EXPECT_THROW(FileBlockDevice(path, FileBlockDevice::Mode::read_only), IoError);
}

TEST(BtreeNode, MaxEntriesPerValueSize) {
  EXPECT_EQ(calc_max_entries(8), 252u);
  EXPECT_EQ(calc_max_entries(24), 126u);
  EXPECT_EQ(calc_max_entries(16), 168u);
  EXPECT_EQ(calc_max_entries(4), 336u);
}

TEST(BtreeNode, SearchBounds) {
  std::array<std::byte, 4096> block{};
  Node n(block.data());
  n.set_flags(kLeafNode);
  n.set_max_entries(252);
  n.set_value_size(8);
  n.set_nr_entries(3);
  n.set_key(0, 10);
  n.set_key(1, 20);
  n.set_key(2, 30);
  EXPECT_EQ(n.lower_bound(5), -1);
  EXPECT_EQ(n.lower_bound(10), 0);
  EXPECT_EQ(n.lower_bound(25), 1);
  EXPECT_EQ(n.lower_bound(99), 2);
  EXPECT_EQ(n.upper_bound(5), 0);
  EXPECT_EQ(n.upper_bound(20), 1);
  EXPECT_EQ(n.upper_bound(21), 2);
  EXPECT_EQ(n.upper_bound(31), 3);
}

TEST(Bitmap, TwoBitEncodingHasTheHighBitFirst) {
  // Entry j's even bit 2j holds the count's high bit and bit 2j+1 its low bit, so the
  // raw field reads 2 for a count of 1 and 1 for a count of 2 (sm_set_bitmap).
  std::array<std::byte, 4080> area{};
  BitmapEntries e(area.data());
  e.set(0, 1);
  EXPECT_EQ(load_le64(area.data()), 2u);
  e.set(0, 2);
  EXPECT_EQ(load_le64(area.data()), 1u);
  e.set(1, 3);
  EXPECT_EQ(load_le64(area.data()), 1u | (3u << 2));
  EXPECT_EQ(e.get(0), 2u);
  EXPECT_EQ(e.get(1), 3u);
  EXPECT_EQ(kEntriesPerBitmap, 16320u);
}

TEST(Bitmap, FindFreeSkipsFullWords) {
  std::array<std::byte, 4080> area{};
  BitmapEntries e(area.data());
  for (uint32_t i = 0; i < 100; ++i) e.set(i, 1);
  EXPECT_TRUE(e.word_used(0));
  EXPECT_TRUE(e.word_used(64));
  EXPECT_FALSE(e.word_used(96));
  EXPECT_EQ(e.find_free(0, 16320), std::optional<uint32_t>(100));
  EXPECT_EQ(e.find_free(0, 100), std::nullopt);
  EXPECT_EQ(e.find_free(150, 16320), std::optional<uint32_t>(150));
}

TEST(SmRoot, EncodesLittleEndianFields) {
  SmRoot r{1, 2, 3, 4};
  std::array<std::byte, 32> out{};
  r.encode(out.data());
  EXPECT_EQ(load_le64(out.data() + 16), 3u);
  EXPECT_EQ(SmRoot::decode(out.data()), r);
}

// ---------------------------------------------------------------------------------------
// Block manager

namespace {

const Validator& node_v() { return btree_node_validator(); }

void write_node(MemoryBlockDevice& dev, block_t b, uint64_t key) {
  std::array<std::byte, 4096> block{};
  Node n(block.data());
  n.set_flags(kLeafNode);
  n.set_max_entries(252);
  n.set_value_size(8);
  n.set_nr_entries(1);
  n.set_key(0, key);
  node_v().prepare_for_write(block.data(), b);
  dev.write(b * 8, std::span<const std::byte>(block.data(), block.size()));
}

}  // namespace

TEST(BlockManager, ValidatesChecksumAndLocation) {
  MemoryBlockDevice dev(64 * 8);
  write_node(dev, 3, 77);
  BlockManager bm(dev);
  EXPECT_EQ(ConstNode(bm.read_lock(3, &node_v()).data()).key(0), 77u);

  // The same bytes at another location fail the blocknr check.
  std::array<std::byte, 4096> copy;
  dev.read(3 * 8, copy);
  dev.write(5 * 8, std::span<const std::byte>(copy.data(), copy.size()));
  try {
    bm.read_lock(5, &node_v());
    FAIL();
  } catch (const CorruptionError& e) {
    EXPECT_EQ(e.err(), ENOTBLK);
    EXPECT_EQ(e.block(), 5u);
  }
  // A flipped byte fails the checksum.
  copy[200] ^= std::byte{1};
  dev.write(3 * 8, std::span<const std::byte>(copy.data(), copy.size()));
  BlockManager fresh(dev);
  try {
    fresh.read_lock(3, &node_v());
    FAIL();
  } catch (const CorruptionError& e) {
    EXPECT_EQ(e.err(), EILSEQ);
  }
  EXPECT_THROW(fresh.read_lock(64, &node_v()), IoError);
}

TEST(BlockManager, OneValidatorPerCachedBlock) {
  MemoryBlockDevice dev(16 * 8);
  write_node(dev, 1, 1);
  BlockManager bm(dev);
  bm.read_lock(1, &node_v());
  try {
    bm.read_lock(1, &bitmap_validator());
    FAIL();
  } catch (const PdataError& e) {
    EXPECT_EQ(e.err(), EINVAL);
  }
}

TEST(BlockManager, LocksExcludeEachOther) {
  MemoryBlockDevice dev(16 * 8);
  BlockManager bm(dev);
  WriteRef w = bm.write_lock_zero(2, &node_v());
  EXPECT_THROW(bm.read_lock(2, &node_v()), std::logic_error);
  EXPECT_THROW(bm.write_lock(2, &node_v()), std::logic_error);
  w.release();
  ReadRef r1 = bm.read_lock(2, &node_v()), r2 = bm.read_lock(2, &node_v());
  EXPECT_THROW(bm.write_lock(2, &node_v()), std::logic_error);
}

TEST(BlockManager, WritesBackOnlyOnFlushOrEviction) {
  MemoryBlockDevice dev(1024 * 8);
  BlockManager bm(dev, 16);
  {
    WriteRef w = bm.write_lock_zero(7, &node_v());
    Node n(w.data());
    n.set_flags(kLeafNode);
    n.set_max_entries(252);
    n.set_value_size(8);
  }
  EXPECT_EQ(bm.stats().device_writes, 0u);
  bm.flush();
  EXPECT_EQ(bm.stats().device_writes, 1u);
  // The write-out stamped the location and checksum.
  std::array<std::byte, 4096> raw;
  dev.read(7 * 8, raw);
  EXPECT_EQ(load_le64(raw.data() + 8), 7u);
  EXPECT_EQ(identify_block(raw.data()), std::optional(BlockKind::btree_node));
  // Filling the cache past its size writes dirty blocks back.
  for (block_t b = 100; b < 140; ++b) bm.write_lock_zero(b, &bitmap_validator());
  EXPECT_GE(bm.stats().device_writes, 20u);
}

// dm-bufio clears a buffer's dirty bit when it submits the write: a write that fails
// leaves the block clean (never written again by a later flush or a reset), the flush
// reports the error after writing the other blocks, and a reset rereads the old block.
TEST(BlockManager, AFailedWriteLeavesTheBlockCleanAndTheDeviceUnchanged) {
  auto mem = std::make_unique<MemoryBlockDevice>(1024 * 8);
  thinsim::fault::FaultyDisk dev("meta", std::move(mem));
  BlockManager bm(dev, 16);
  for (block_t b : {3, 5}) {
    WriteRef w = bm.write_lock_zero(b, nullptr);
    std::memset(w.data(), 0x11 * int(b), 4096);
  }
  thinsim::fault::IoFaultRule once;
  once.ops = thinsim::fault::kWrite;
  once.count = 1;
  dev.set_rule(once);
  EXPECT_THROW(bm.flush(), IoError);  // block 3's write failed
  EXPECT_EQ(bm.stats().failed_writes, 1u);
  EXPECT_EQ(bm.stats().device_writes, 1u);  // block 5 was still written
  bm.flush();                               // nothing is dirty any more
  EXPECT_EQ(bm.stats().device_writes, 1u);
  bm.reset();
  ReadRef r3 = bm.read_lock(3, nullptr);
  EXPECT_EQ(r3.data()[0], std::byte{0});  // the device never got block 3
  ReadRef r5 = bm.read_lock(5, nullptr);
  EXPECT_EQ(r5.data()[0], std::byte{0x55});
}

TEST(BlockManager, ReadOnlyRefusesWrites) {
  MemoryBlockDevice dev(16 * 8);
  BlockManager bm(dev);
  bm.set_read_only(true);
  try {
    bm.write_lock_zero(1, &node_v());
    FAIL();
  } catch (const PdataError& e) {
    EXPECT_EQ(e.err(), EPERM);
  }
}
