// The checker against deliberately damaged metadata: each kind of damage is found, named
// with its block, classed fatal or non-fatal as thin_check does, and hostile input never
// crashes or hangs it.
#include <gtest/gtest.h>

#include <array>
#include <random>

#include "model/check/metadata_checker.h"
#include "model/pdata/btree_node.h"
#include "model/pdata/memory_block_device.h"
#include "model/pdata/space_map_bitmap.h"
#include "model/thin/metadata_restorer.h"
#include "model/thin/superblock.h"

using namespace thinsim;
using namespace thinsim::pdata;
using check::Severity;

namespace {

using Block = std::array<std::byte, 4096>;

// Three devices, 3000 mappings each; devices 1-3 share their first 500 data blocks, so
// those have reference counts of 3 (in the overflow tree).
void build_pool(BlockDevice& dev) {
  thin::MetadataRestorer r(dev);
  thin::SuperblockInfo sb;
  sb.time = 1;
  sb.transaction = 1;
  sb.data_block_size = 128;
  sb.nr_data_blocks = 20000;
  r.begin_superblock(sb);
  for (uint64_t d = 1; d <= 3; ++d) {
    r.begin_device(thin::DeviceInfo{d, 3000, 0, 0, 0});
    r.mapping(thin::MappingRun{0, 0, 500, 0});
    for (uint64_t v = 500; v < 3000; ++v) r.mapping(thin::MappingRun{v, d * 5000 + v * 2 % 4999, 1, 1});
    r.end_device();
  }
  r.end_superblock();
}

Block read_block(BlockDevice& dev, uint64_t b) {
  Block out;
  dev.read(b * 8, out);
  return out;
}

void write_block(BlockDevice& dev, uint64_t b, Block& data, std::optional<BlockKind> restamp) {
  if (restamp) store_le32(data.data(), block_checksum(data.data(), *restamp));
  dev.write(b * 8, std::span<const std::byte>(data.data(), data.size()));
}

thin::Superblock superblock(BlockDevice& dev) { return thin::Superblock::decode(read_block(dev, 0).data()); }

// The root of a device's mapping tree.
uint64_t device_root(BlockDevice& dev, uint64_t dev_id) {
  uint64_t b = superblock(dev).data_mapping_root;
  for (;;) {
    Block blk = read_block(dev, b);
    ConstNode n(blk.data());
    int i = n.lower_bound(dev_id);
    if (n.is_leaf()) return n.value64(static_cast<uint32_t>(i));
    b = n.value64(static_cast<uint32_t>(i));
  }
}

uint64_t first_leaf(BlockDevice& dev, uint64_t root) {
  for (;;) {
    Block blk = read_block(dev, root);
    ConstNode n(blk.data());
    if (n.is_leaf()) return root;
    root = n.value64(0);
  }
}

check::CheckResult run(BlockDevice& dev, check::CheckOptions o = {}) {
  return check::check_metadata(dev, o);
}

// A finding of this severity naming this block whose text contains `what`.
bool has(const check::CheckResult& r, Severity s, std::optional<uint64_t> block,
         const std::string& what) {
  for (auto& f : r.findings.list())
    if (f.severity == s && (!block || f.block == block) && f.problem.find(what) != std::string::npos)
      return true;
  std::string all;
  for (auto& f : r.findings.list()) all += "  " + f.to_string() + "\n";
  ADD_FAILURE() << "no finding '" << what << "' for block " << (block ? std::to_string(*block) : "-")
                << "; findings:\n" << all;
  return false;
}

class CheckerTest : public ::testing::Test {
 protected:
  void SetUp() override { build_pool(dev); }
  MemoryBlockDevice dev{4096 * 8};
};

}  // namespace

TEST_F(CheckerTest, CleanPoolPasses) {
  auto r = run(dev);
  for (auto& f : r.findings.list()) ADD_FAILURE() << f.to_string();
  EXPECT_TRUE(r.passed(false));
  EXPECT_EQ(r.nr_devices, 3u);
  EXPECT_EQ(r.nr_mappings, 9000u);
  ASSERT_TRUE(r.superblock.has_value());
  EXPECT_EQ(r.superblock->trans_id, 1u);
}

TEST_F(CheckerTest, FlippedByteInALeafIsABadChecksum) {
  uint64_t leaf = first_leaf(dev, device_root(dev, 2));
  Block b = read_block(dev, leaf);
  b[1000] ^= std::byte{0x10};
  write_block(dev, leaf, b, std::nullopt);
  auto r = run(dev);
  EXPECT_FALSE(r.passed(true));
  EXPECT_TRUE(has(r, Severity::fatal, leaf, "bad checksum"));
}

TEST_F(CheckerTest, NodeAtTheWrongLocation) {
  uint64_t leaf = first_leaf(dev, device_root(dev, 1));
  Block b = read_block(dev, leaf);
  store_le64(b.data() + 8, leaf + 1);
  write_block(dev, leaf, b, BlockKind::btree_node);
  EXPECT_TRUE(has(run(dev), Severity::fatal, leaf, "blocknr mismatch"));
}

TEST_F(CheckerTest, KeysOutOfOrder) {
  uint64_t leaf = first_leaf(dev, device_root(dev, 3));
  Block b = read_block(dev, leaf);
  Node n(b.data());
  uint64_t k0 = n.key(0);
  n.set_key(0, n.key(1));
  n.set_key(1, k0);
  write_block(dev, leaf, b, BlockKind::btree_node);
  EXPECT_TRUE(has(run(dev), Severity::fatal, leaf, "out of order"));
}

TEST_F(CheckerTest, KeyOutsideItsParentsRange) {
  uint64_t root = device_root(dev, 1);
  Block rb = read_block(dev, root);
  ConstNode rn(rb.data());
  ASSERT_TRUE(rn.is_internal());
  uint64_t second = rn.value64(1);
  Block b = read_block(dev, second);
  Node n(b.data());
  n.set_key(0, rn.key(0));  // below the parent's separator for this child
  write_block(dev, second, b, BlockKind::btree_node);
  EXPECT_TRUE(has(run(dev), Severity::fatal, second, "parent key mismatch"));
}

TEST_F(CheckerTest, CycleIsFoundWithoutLooping) {
  uint64_t root = device_root(dev, 2);
  Block b = read_block(dev, root);
  Node n(b.data());
  ASSERT_TRUE(n.is_internal());
  n.set_value64(1, root);  // a child pointing back at its parent
  write_block(dev, root, b, BlockKind::btree_node);
  auto r = run(dev);
  EXPECT_TRUE(has(r, Severity::fatal, root, "cycle"));
}

TEST_F(CheckerTest, ReferenceCountTooLowIsFatal) {
  // Data block 600's count in the data space map's first bitmap: 1 -> 0.
  thin::Superblock sb = superblock(dev);
  uint64_t index_root = sb.data_sm_root().bitmap_root;
  Block ib = read_block(dev, index_root);
  ConstNode in(ib.data());
  ASSERT_TRUE(in.is_leaf());
  uint64_t bitmap = IndexEntry::decode(in.value_ptr(0)).blocknr;
  Block bb = read_block(dev, bitmap);
  BitmapEntries(bb.data() + kBitmapHeaderSize).set(6000, 0);  // device 1 maps 500 -> 6000
  write_block(dev, bitmap, bb, BlockKind::bitmap);
  auto r = run(dev);
  EXPECT_FALSE(r.passed(true));
  EXPECT_TRUE(has(r, Severity::fatal, bitmap, "data reference counts differ for block 6000"));
}

TEST_F(CheckerTest, LeakedBlockIsNonFatal) {
  thin::Superblock sb = superblock(dev);
  Block ib = read_block(dev, sb.data_sm_root().bitmap_root);
  uint64_t bitmap = IndexEntry::decode(ConstNode(ib.data()).value_ptr(0)).blocknr;
  Block bb = read_block(dev, bitmap);
  BitmapEntries(bb.data() + kBitmapHeaderSize).set(4000, 1);  // mapped by no device
  write_block(dev, bitmap, bb, BlockKind::bitmap);
  auto r = run(dev);
  EXPECT_EQ(r.findings.nr_fatal(), 0u);
  EXPECT_FALSE(r.passed(false));
  EXPECT_TRUE(r.passed(true));
  EXPECT_TRUE(has(r, Severity::non_fatal, bitmap, "(leaked)"));
}

TEST_F(CheckerTest, OverflowCountsAreChecked) {
  // Blocks 0..499 are shared by three devices; their count lives in the overflow tree.
  thin::Superblock sb = superblock(dev);
  uint64_t rc_root = sb.data_sm_root().ref_count_root;
  uint64_t leaf = first_leaf(dev, rc_root);
  Block b = read_block(dev, leaf);
  Node n(b.data());
  ASSERT_GT(n.nr_entries(), 0u);
  uint64_t block = n.key(0);
  store_le32(n.value_ptr(0), 7);
  write_block(dev, leaf, b, BlockKind::btree_node);
  auto r = run(dev);
  EXPECT_TRUE(has(r, Severity::non_fatal, std::nullopt,
                  "data reference counts differ for block " + std::to_string(block) +
                      ", expected 3, but got 7"));
}

TEST_F(CheckerTest, MetadataReferenceCountsAreChecked) {
  // Drop the count of the details tree root in the metadata space map.
  thin::Superblock sb = superblock(dev);
  uint64_t details = sb.device_details_root;
  Block ib = read_block(dev, sb.metadata_sm_root().bitmap_root);
  uint64_t bitmap = IndexEntry::decode(ib.data() + 16).blocknr;
  Block bb = read_block(dev, bitmap);
  BitmapEntries(bb.data() + kBitmapHeaderSize).set(static_cast<uint32_t>(details), 0);
  write_block(dev, bitmap, bb, BlockKind::bitmap);
  EXPECT_TRUE(has(run(dev), Severity::fatal, bitmap,
                  "metadata reference counts differ for block " + std::to_string(details)));
}

TEST_F(CheckerTest, UnderfullNodeIsNonFatal) {
  uint64_t root = device_root(dev, 1);
  Block rb = read_block(dev, root);
  uint64_t child = ConstNode(rb.data()).value64(0);
  Block b = read_block(dev, child);
  Node n(b.data());
  n.set_nr_entries(5);
  write_block(dev, child, b, BlockKind::btree_node);
  auto r = run(dev);
  EXPECT_TRUE(has(r, Severity::non_fatal, child, "too few entries"));
}

TEST_F(CheckerTest, ZeroedSuperblock) {
  Block zero{};
  write_block(dev, 0, zero, std::nullopt);
  auto r = run(dev);
  EXPECT_FALSE(r.passed(true));
  EXPECT_TRUE(has(r, Severity::fatal, 0, "all zeroes"));
}

TEST_F(CheckerTest, SuperblockChecksum) {
  Block b = read_block(dev, 0);
  b[50] ^= std::byte{1};  // inside trans_id
  write_block(dev, 0, b, std::nullopt);
  EXPECT_TRUE(has(run(dev), Severity::fatal, 0, "bad checksum"));
}

TEST_F(CheckerTest, TruncatedDevice) {
  MemoryBlockDevice small(20 * 8);
  Block b;
  for (uint64_t i = 0; i < 20; ++i) {
    b = read_block(dev, i);
    write_block(small, i, b, std::nullopt);
  }
  auto r = run(small);
  EXPECT_FALSE(r.passed(true));
  EXPECT_TRUE(has(r, Severity::fatal, std::nullopt, "beyond the end"));
}

TEST_F(CheckerTest, SuperblockOnlyAndSkipMappings) {
  uint64_t leaf = first_leaf(dev, device_root(dev, 2));
  Block b = read_block(dev, leaf);
  b[1000] ^= std::byte{0x10};
  write_block(dev, leaf, b, std::nullopt);
  check::CheckOptions sb_only;
  sb_only.super_block_only = true;
  EXPECT_TRUE(run(dev, sb_only).passed(false));
  check::CheckOptions skip;
  skip.skip_mappings = true;
  EXPECT_TRUE(run(dev, skip).passed(false));
}

TEST(CheckerHostile, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 30; ++round) {
    MemoryBlockDevice dev(64 * 8);
    build_pool(dev);
    // Overwrite random blocks with random bytes, sometimes with a valid checksum so
    // the garbage gets past the first line of defence.
    for (int k = 0; k < 8; ++k) {
      Block b;
      for (auto& c : b) c = static_cast<std::byte>(rng());
      uint64_t where = rng() % 64;
      std::optional<BlockKind> kind;
      if (rng() % 2) kind = static_cast<BlockKind>(rng() % 4);
      if (kind == BlockKind::btree_node) {
        Node n(b.data());
        n.set_flags(1 + rng() % 2);
        n.set_max_entries(static_cast<uint32_t>(rng() % 300));
        n.set_nr_entries(static_cast<uint32_t>(rng() % 300));
        n.set_value_size(8);
      }
      if (kind) store_le64(b.data() + 8, where);
      write_block(dev, where, b, kind);
    }
    auto r = run(dev);
    EXPECT_LE(r.findings.list().size(), check::Findings::kMaxStored);
  }
}
