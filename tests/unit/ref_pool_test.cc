// Unit tests of the reference model (model/ref): mappings, sharing, space accounting,
// modes, queueing and commits as the fact sheet (section 6) and dm-thin.c describe them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "model/ref/ref_pool.h"

namespace thinsim::ref {
namespace {

constexpr uint32_t kBs = 8;  // sectors per data block: small, the model accepts any size

std::vector<std::byte> fill(uint64_t sectors, uint8_t value) {
  return std::vector<std::byte>(sectors * kSectorBytes, std::byte{value});
}

PoolParams params(uint64_t blocks) {
  PoolParams p;
  p.data_blocks = blocks;
  p.block_sectors = kBs;
  return p;
}

// The byte at the start of each sector of a read, for compact comparisons.
std::vector<int> sector_bytes(const ReadResult& r) {
  std::vector<int> out;
  for (size_t i = 0; i < r.data.size(); i += kSectorBytes) out.push_back(int(r.data[i]));
  return out;
}

IoStatus write(RefPool& p, uint32_t dev, uint64_t sector, uint64_t sectors, uint8_t v,
               bool fua = false) {
  return p.write(dev, sector, fill(sectors, v), fua).status;
}

TEST(RefPool, WriteProvisionsAndZeroesTheRestOfTheBlock) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  EXPECT_EQ(write(p, 1, 2, 1, 7), IoStatus::ok);
  EXPECT_EQ(p.used_data_blocks(), 1u);
  EXPECT_EQ(p.mappings(1).size(), 1u);
  EXPECT_EQ(p.highest_mapped_block(1), 0u);
  ReadResult r = p.read(1, 0, 2 * kBs);
  EXPECT_EQ(sector_bytes(r), (std::vector<int>{0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(r.defined, std::vector<bool>(2 * kBs, true));
  EXPECT_EQ(p.mappings(1).size(), 1u);  // reading an unmapped block maps nothing
}

TEST(RefPool, WriteAcrossBlocksIsSplit) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  EXPECT_EQ(write(p, 1, kBs - 1, kBs + 2, 3), IoStatus::ok);
  EXPECT_EQ(p.mappings(1).size(), 3u);
  EXPECT_EQ(sector_bytes(p.read(1, kBs - 2, 3)), (std::vector<int>{0, 3, 3}));
}

TEST(RefPool, SnapshotSharesAndWritesBreakSharing) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  EXPECT_EQ(p.mappings(1), p.mappings(2));
  EXPECT_TRUE(p.is_shared(1, 0));
  EXPECT_EQ(p.used_data_blocks(), 2u);

  // A partial write copies the old block first; the snapshot keeps the old data.
  EXPECT_EQ(write(p, 1, kBs + 1, 1, 9), IoStatus::ok);
  EXPECT_EQ(p.used_data_blocks(), 3u);
  EXPECT_NE(p.mappings(1).at(1), p.mappings(2).at(1));
  EXPECT_EQ(p.mappings(1).at(0), p.mappings(2).at(0));
  EXPECT_FALSE(p.is_shared(1, 1));
  EXPECT_FALSE(p.is_shared(2, 1));
  EXPECT_TRUE(p.is_shared(2, 0));
  EXPECT_EQ(sector_bytes(p.read(1, kBs, 3)), (std::vector<int>{1, 9, 1}));
  EXPECT_EQ(sector_bytes(p.read(2, kBs, 3)), (std::vector<int>{1, 1, 1}));

  // Once unshared (exact rule), the snapshot writes in place.
  const uint64_t token = p.mappings(2).at(1);
  write(p, 2, kBs, 1, 4);
  EXPECT_EQ(p.mappings(2).at(1), token);
  EXPECT_EQ(p.used_data_blocks(), 3u);
}

TEST(RefPool, SnapshotOfSnapshot) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 5);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  ASSERT_EQ(p.create_snap(3, 2), 0);
  EXPECT_EQ(p.mappings(3), p.mappings(1));
  write(p, 2, 0, 1, 6);
  EXPECT_EQ(p.mappings(1), p.mappings(3));
  EXPECT_TRUE(p.is_shared(3, 0));
  EXPECT_FALSE(p.is_shared(2, 0));
  EXPECT_EQ(p.used_data_blocks(), 2u);
  EXPECT_EQ(sector_bytes(p.read(3, 0, 2)), (std::vector<int>{5, 5}));
  EXPECT_EQ(sector_bytes(p.read(2, 0, 2)), (std::vector<int>{6, 5}));
}

TEST(RefPool, KernelTimeRuleBreaksSharingOnFalsePositives) {
  PoolParams pp = params(10);
  pp.sharing = SharingRule::kernel_time;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  write(p, 1, 0, 1, 2);  // breaks sharing: the snapshot's block is now referenced once
  EXPECT_FALSE(p.is_shared(2, 0));
  const uint64_t token = p.mappings(2).at(0);
  write(p, 2, 0, 1, 3);  // but the snapshot's mapping predates its snapshot time: copied
  EXPECT_NE(p.mappings(2).at(0), token);
  EXPECT_EQ(p.used_data_blocks(), 2u);
  EXPECT_EQ(p.pending_frees(), 1u);  // the old block, live at the last commit
  EXPECT_EQ(sector_bytes(p.read(2, 0, 2)), (std::vector<int>{3, 1}));
}

TEST(RefPool, DeleteFreesOnlyUnsharedTokens) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 3 * kBs, 1);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  write(p, 2, 0, 1, 2);
  EXPECT_EQ(p.used_data_blocks(), 4u);
  ASSERT_EQ(p.delete_thin(1), 0);
  EXPECT_EQ(p.used_data_blocks(), 3u);
  EXPECT_FALSE(p.is_shared(2, 1));
  ASSERT_EQ(p.delete_thin(2), 0);
  EXPECT_EQ(p.used_data_blocks(), 0u);
  EXPECT_EQ(p.pending_frees(), 0u);  // the message committed
  EXPECT_EQ(p.devices(), std::vector<uint32_t>{});
}

TEST(RefPool, PendingFreesAreNotReusableUntilCommit) {
  RefPool p(params(4));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 4 * kBs, 1);
  p.status_query();  // commit: all four blocks live at the last commit
  EXPECT_EQ(p.discard(1, 0, 2 * kBs), 0);
  EXPECT_EQ(p.used_data_blocks(), 2u);
  EXPECT_EQ(p.free_data_blocks(), 2u);
  EXPECT_EQ(p.pending_frees(), 2u);

  // Free blocks exist, but none is allocatable: out of data space without a commit.
  IoResult r = p.write(1, 0, fill(1, 2));
  EXPECT_EQ(r.status, IoStatus::queued);
  EXPECT_EQ(p.mode(), Mode::out_of_data_space);
  EXPECT_EQ(p.pending_frees(), 2u);
  EXPECT_EQ(p.completion(r.handle), std::nullopt);

  // The waker's commit makes them allocatable, returns to write mode and reruns the IO:
  // not at the tick one period after the last worker commit (time 0), at the next one.
  p.advance_time(1000);
  EXPECT_EQ(p.completion(r.handle), std::nullopt);
  EXPECT_EQ(p.mode(), Mode::out_of_data_space);
  p.advance_time(1000);
  EXPECT_EQ(p.mode(), Mode::write);
  EXPECT_EQ(p.completion(r.handle), 0);
  EXPECT_EQ(sector_bytes(p.read(1, 0, 2)), (std::vector<int>{2, 0}));
}

TEST(RefPool, BlocksAllocatedAndFreedInOneTransactionAreReusable) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  EXPECT_EQ(p.discard(1, 0, 2 * kBs), 0);
  EXPECT_EQ(p.pending_frees(), 0u);
  EXPECT_EQ(write(p, 1, 0, 2 * kBs, 2), IoStatus::ok);
  EXPECT_EQ(p.mode(), Mode::write);
}

TEST(RefPool, OutOfSpaceQueuesUntilResize) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  IoResult a = p.write(1, 2 * kBs, fill(1, 2));
  IoResult b = p.write(1, 2 * kBs + 1, fill(1, 3));  // same block, queued behind a
  IoResult c = p.write(1, 0, fill(1, 4));            // mapped, unshared: not queued
  EXPECT_EQ(a.status, IoStatus::queued);
  EXPECT_EQ(b.status, IoStatus::queued);
  EXPECT_EQ(c.status, IoStatus::ok);
  EXPECT_EQ(p.mode_word(), "out_of_data_space");
  EXPECT_EQ(p.resize_data(1), EINVAL);
  EXPECT_EQ(p.resize_data(4), 0);
  EXPECT_EQ(p.mode(), Mode::write);
  EXPECT_EQ(p.completion(a.handle), 0);
  EXPECT_EQ(p.completion(b.handle), 0);
  EXPECT_EQ(p.data_blocks(), 4u);
  EXPECT_EQ(sector_bytes(p.read(1, 2 * kBs, 3)), (std::vector<int>{2, 3, 0}));
}

TEST(RefPool, NoSpaceTimeoutErrorsQueuedIoAndSwitchesOnErrorIfNoSpace) {
  RefPool p(params(1));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  IoResult r = p.write(1, kBs, fill(1, 2));
  ASSERT_EQ(r.status, IoStatus::queued);
  p.advance_time(59'999);
  EXPECT_EQ(p.completion(r.handle), std::nullopt);
  p.advance_time(1);
  EXPECT_EQ(p.completion(r.handle), ENOSPC);
  EXPECT_TRUE(p.error_if_no_space());
  EXPECT_EQ(p.mode(), Mode::out_of_data_space);
  IoResult again = p.write(1, kBs, fill(1, 2));
  EXPECT_EQ(again.status, IoStatus::error);
  EXPECT_EQ(again.error, ENOSPC);
  // Resuming with the same table brings the table's queue_if_no_space back.
  p.suspend();
  p.resume();
  EXPECT_FALSE(p.error_if_no_space());
  EXPECT_EQ(write(p, 1, kBs, 1, 2), IoStatus::queued);
}

TEST(RefPool, ErrorIfNoSpaceFailsAtOnce) {
  PoolParams pp = params(1);
  pp.error_if_no_space = true;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  IoResult r = p.write(1, 0, fill(1, 2));  // breaking sharing needs a block too
  EXPECT_EQ(r.status, IoStatus::error);
  EXPECT_EQ(r.error, ENOSPC);
  EXPECT_EQ(p.mode(), Mode::out_of_data_space);
  EXPECT_EQ(p.read(1, 0, 1).data[0], std::byte{1});
}

TEST(RefPool, ZeroTimeoutQueuesForever) {
  PoolParams pp = params(1);
  pp.no_space_timeout_ms = 0;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  IoResult r = p.write(1, kBs, fill(1, 2));
  p.advance_time(3'600'000);
  EXPECT_EQ(p.completion(r.handle), std::nullopt);
}

TEST(RefPool, MessageCommitThatFindsSpaceRequeuesIoForTheWorker) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.create_thin(2), 0);
  write(p, 1, 0, kBs, 1);
  write(p, 2, 0, kBs, 1);
  IoResult r = p.write(1, kBs, fill(1, 2));
  ASSERT_EQ(r.status, IoStatus::queued);
  ASSERT_EQ(p.delete_thin(2), 0);  // out of data space still takes messages
  EXPECT_EQ(p.mode(), Mode::write);
  // pool_message only commits; the requeued IO runs when the worker does (waker tick).
  EXPECT_EQ(p.completion(r.handle), std::nullopt);
  EXPECT_EQ(p.used_data_blocks(), 1u);
  p.advance_time(1000);
  EXPECT_EQ(p.completion(r.handle), 0);
  EXPECT_EQ(p.used_data_blocks(), 2u);
}

TEST(RefPool, StatusCommitThatFindsSpaceLeavesIoForTheNextWorkerRun) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  p.status_query();
  EXPECT_EQ(p.discard(1, 0, kBs), 0);  // a pending free: not allocatable before a commit
  IoResult r = p.write(1, 2 * kBs, fill(1, 2));
  ASSERT_EQ(r.status, IoStatus::queued);
  p.status_query();
  EXPECT_EQ(p.mode(), Mode::write);
  EXPECT_EQ(p.completion(r.handle), std::nullopt);
  p.read(1, 5 * kBs, 1);  // an unmapped read goes through the worker
  EXPECT_EQ(p.completion(r.handle), 0);
}

TEST(RefPool, ReadOnlyMode) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  write(p, 1, 0, 1, 2);  // block 0 unshared for device 1, block 1 still shared
  p.set_needs_check();
  EXPECT_EQ(p.mode_word(), "ro");
  EXPECT_TRUE(p.needs_check());
  EXPECT_EQ(sector_bytes(p.read(1, 0, 2)), (std::vector<int>{2, 1}));
  EXPECT_EQ(write(p, 1, 1, 1, 3), IoStatus::ok);
  IoResult shared = p.write(1, kBs, fill(1, 3));
  IoResult unmapped = p.write(1, 5 * kBs, fill(1, 3));
  EXPECT_EQ(shared.error, EIO);
  EXPECT_EQ(unmapped.error, EIO);
  EXPECT_EQ(p.create_thin(9), EOPNOTSUPP);
  EXPECT_EQ(p.discard(1, 0, 2 * kBs), 0);
  EXPECT_EQ(p.mappings(1).size(), 2u);
  EXPECT_EQ(p.resize_data(20), 0);  // skipped while needs_check is set
  EXPECT_EQ(p.data_blocks(), 10u);
  EXPECT_EQ(p.mode(), Mode::read_only);
  p.resume();
  EXPECT_EQ(p.mode(), Mode::read_only);
}

TEST(RefPool, ReadOnlyFeature) {
  PoolParams pp = params(10);
  pp.read_only = true;
  RefPool p(pp);
  EXPECT_EQ(p.mode(), Mode::read_only);
  EXPECT_EQ(p.create_thin(1), EOPNOTSUPP);
}

TEST(RefPool, NeedsCheckErrorsQueuedIo) {
  RefPool p(params(1));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  IoResult r = p.write(1, kBs, fill(1, 2));
  p.set_needs_check();
  EXPECT_EQ(p.completion(r.handle), ENOSPC);  // the pool was out of data space
}

TEST(RefPool, OutOfMetadataSpace) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  p.enter_out_of_metadata_space();
  EXPECT_EQ(p.mode_word(), "ro");
  EXPECT_EQ(p.create_thin(2), EOPNOTSUPP);
  EXPECT_EQ(write(p, 1, 0, 1, 2), IoStatus::ok);
  EXPECT_EQ(p.write(1, kBs, fill(1, 2)).error, EIO);
  // A resume binds the table again, which asks for the mode the pool is in; growing the
  // metadata device at that resume leaves out-of-metadata-space for write mode.
  p.suspend();
  EXPECT_EQ(p.resume(), 0);
  EXPECT_EQ(p.mode(), Mode::out_of_metadata_space);
  p.set_metadata_device_blocks(p.metadata_blocks() + 100);
  p.suspend();
  EXPECT_EQ(p.resume(), 0);
  EXPECT_EQ(p.mode(), Mode::write);
  EXPECT_EQ(p.create_thin(2), 0);
}

TEST(RefPool, MetadataDeviceResize) {
  PoolParams pp = params(10);
  pp.metadata_blocks = 1024;
  RefPool p(pp);
  EXPECT_EQ(p.metadata_blocks(), 1024u);
  p.set_metadata_device_blocks(2048);
  EXPECT_EQ(p.metadata_blocks(), 1024u);  // seen at the next resume only
  p.suspend();
  EXPECT_EQ(p.resume(), 0);
  EXPECT_EQ(p.metadata_blocks(), 2048u);
  p.set_metadata_device_blocks(1000);  // shrunk under the pool: refused, stays suspended
  p.suspend();
  EXPECT_EQ(p.resume(), EINVAL);
  p.set_metadata_device_blocks(2048);
  EXPECT_EQ(p.resume(), 0);
  p.set_needs_check();  // growing waits for a repair
  p.set_metadata_device_blocks(4096);
  p.suspend();
  EXPECT_EQ(p.resume(), 0);
  EXPECT_EQ(p.metadata_blocks(), 2048u);
}

TEST(RefPool, FailMode) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  p.enter_fail_mode();
  EXPECT_EQ(p.mode_word(), "Fail");
  EXPECT_EQ(p.read(1, 0, 1).error, EIO);
  EXPECT_EQ(p.write(1, 0, fill(1, 1)).error, EIO);
  EXPECT_EQ(p.discard(1, 0, kBs), EIO);
  EXPECT_EQ(p.create_thin(2), EOPNOTSUPP);
  EXPECT_EQ(p.open(1), EINVAL);
  p.suspend();
  EXPECT_EQ(p.resume(), 0);  // never upgraded
  EXPECT_EQ(p.mode(), Mode::fail);
}

TEST(RefPool, ExternalOriginReadsAndPartialWrites) {
  // 20 sectors of origin: block 0 and 1 inside, block 2 straddles its end, block 3 beyond.
  int origin_reads = 0;
  ExternalOrigin origin{20, [&](uint64_t sector, std::span<std::byte> out) {
                          ++origin_reads;
                          for (size_t i = 0; i < out.size(); i += kSectorBytes)
                            out[i] = std::byte(100 + sector + i / kSectorBytes);
                        }};
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.open(1, origin), 0);
  EXPECT_EQ(sector_bytes(p.read(1, 18, 4)), (std::vector<int>{118, 119, 0, 0}));

  write(p, 1, 1, 1, 7);
  EXPECT_EQ(sector_bytes(p.read(1, 0, 3)), (std::vector<int>{100, 7, 102}));
  write(p, 1, 16, 1, 7);
  EXPECT_EQ(sector_bytes(p.read(1, 16, kBs)), (std::vector<int>{7, 117, 118, 119, 0, 0, 0, 0}));
  write(p, 1, 24, 1, 7);
  EXPECT_EQ(sector_bytes(p.read(1, 24, 2)), (std::vector<int>{7, 0}));
  origin_reads = 0;
  write(p, 1, kBs, kBs, 8);  // a whole-block write copies nothing
  EXPECT_EQ(origin_reads, 0);
  EXPECT_EQ(sector_bytes(p.read(1, kBs, 1)), std::vector<int>{8});
  EXPECT_EQ(p.used_data_blocks(), 4u);
}

TEST(RefPool, SkipBlockZeroingLeavesUnwrittenSectorsUndefined) {
  PoolParams pp = params(10);
  pp.skip_block_zeroing = true;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 2, 2, 7);
  ReadResult r = p.read(1, 0, kBs);
  EXPECT_EQ(r.defined, (std::vector<bool>{false, false, true, true, false, false, false, false}));
  EXPECT_EQ(sector_bytes(r)[2], 7);
  write(p, 1, kBs, kBs, 1);
  EXPECT_EQ(p.read(1, kBs, kBs).defined, std::vector<bool>(kBs, true));
  EXPECT_EQ(p.read(1, 2 * kBs, kBs).defined, std::vector<bool>(kBs, true));  // unmapped: zeros

  // With an origin, the copy is made anyway; only the tail past the origin is stale.
  ASSERT_EQ(p.create_thin(2), 0);
  ASSERT_EQ(p.open(2, ExternalOrigin{5, [](uint64_t, std::span<std::byte>) {}}), 0);
  write(p, 2, 0, 1, 7);
  EXPECT_EQ(p.read(2, 0, kBs).defined,
            (std::vector<bool>{true, true, true, true, true, false, false, false}));
}

TEST(RefPool, DiscardUnmapsOnlyWholeBlocks) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 3 * kBs, 1);
  EXPECT_EQ(p.discard(1, 1, kBs - 2), 0);  // less than a block: nothing
  EXPECT_EQ(p.mappings(1).size(), 3u);
  EXPECT_EQ(p.discard(1, 1, 3 * kBs - 2), 0);  // partial 0, whole 1, partial 2
  EXPECT_EQ(p.mappings(1).size(), 2u);
  EXPECT_FALSE(p.mappings(1).contains(1));
  EXPECT_EQ(p.used_data_blocks(), 2u);
  EXPECT_EQ(sector_bytes(p.read(1, kBs - 1, 3)), (std::vector<int>{1, 0, 0}));
}

TEST(RefPool, DiscardOfSharedBlockKeepsTheOtherMapping) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  EXPECT_EQ(p.discard(1, 0, kBs), 0);
  EXPECT_EQ(p.used_data_blocks(), 1u);
  EXPECT_EQ(sector_bytes(p.read(2, 0, 1)), std::vector<int>{1});
}

TEST(RefPool, IgnoreDiscard) {
  PoolParams pp = params(10);
  pp.ignore_discard = true;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  EXPECT_EQ(p.discard(1, 0, kBs), EOPNOTSUPP);
  EXPECT_EQ(p.mappings(1).size(), 1u);
}

TEST(RefPool, MessageErrors) {
  RefPool p(params(10));
  EXPECT_EQ(p.create_thin(uint64_t{1} << 24), EINVAL);
  EXPECT_EQ(p.create_thin((uint64_t{1} << 24) - 1), 0);
  ASSERT_EQ(p.create_thin(1), 0);
  EXPECT_EQ(p.create_thin(1), EEXIST);
  EXPECT_EQ(p.create_snap(1, 2), EEXIST);
  EXPECT_EQ(p.create_snap(2, 3), ENODATA);
  EXPECT_EQ(p.create_snap(2, uint64_t{1} << 24), EINVAL);
  EXPECT_EQ(p.delete_thin(3), ENODATA);
  EXPECT_EQ(p.open(3), ENODATA);
  ASSERT_EQ(p.open(1), 0);
  ASSERT_EQ(p.open(1), 0);
  EXPECT_EQ(p.delete_thin(1), EBUSY);
  p.close(1);
  EXPECT_EQ(p.delete_thin(1), EBUSY);
  p.close(1);
  EXPECT_EQ(p.delete_thin(1), 0);
  EXPECT_EQ(p.set_transaction_id(1, 2), EINVAL);
  EXPECT_EQ(p.set_transaction_id(0, 5), 0);
  EXPECT_EQ(p.transaction_id(), 5u);
  EXPECT_EQ(p.release_metadata_snap(), EINVAL);
  EXPECT_EQ(p.reserve_metadata_snap(), 0);
  EXPECT_TRUE(p.metadata_snap_held());
  EXPECT_EQ(p.reserve_metadata_snap(), EBUSY);
  EXPECT_EQ(p.release_metadata_snap(), 0);
  EXPECT_FALSE(p.metadata_snap_held());
}

TEST(RefPool, LowWaterEventOncePerResume) {
  PoolParams pp = params(4);
  pp.low_water_mark = 2;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);  // allocations see 4 and 3 free
  EXPECT_EQ(p.low_water_events(), 0u);
  write(p, 1, 2 * kBs, kBs, 1);  // sees 2 free
  EXPECT_EQ(p.low_water_events(), 1u);
  write(p, 1, 3 * kBs, kBs, 1);  // sees 1 free: already raised
  EXPECT_EQ(p.low_water_events(), 1u);
  EXPECT_EQ(p.resize_data(6), 0);  // resume re-arms
  write(p, 1, 4 * kBs, kBs, 1);    // sees 2 free
  EXPECT_EQ(p.low_water_events(), 2u);
  p.suspend();
  p.resume();
  EXPECT_EQ(p.low_water_events(), 2u);  // events come from allocations only
  write(p, 1, 5 * kBs, kBs, 1);
  EXPECT_EQ(p.low_water_events(), 3u);
}

TEST(RefPool, AbortReturnsToTheLastCommit) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  p.status_query();
  write(p, 1, 0, 1, 2);  // in place: the data device is not rolled back
  write(p, 1, kBs, kBs, 3);
  EXPECT_EQ(p.discard(1, 0, kBs), 0);
  EXPECT_EQ(p.pending_frees(), 1u);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 1u);
  EXPECT_EQ(p.used_data_blocks(), 1u);
  EXPECT_EQ(p.pending_frees(), 0u);
  // The discard was passed down, so the restored block's contents are unknown.
  EXPECT_EQ(p.read(1, 0, 1).defined, std::vector<bool>{false});
}

TEST(RefPool, AbortKeepsInPlaceWritesAndTheTransactionId) {
  PoolParams pp = params(10);
  pp.no_discard_passdown = true;
  RefPool p(pp);
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.set_transaction_id(0, 3), 0);
  write(p, 1, 0, kBs, 1);
  p.status_query();
  write(p, 1, 0, 1, 2);
  EXPECT_EQ(p.discard(1, 0, kBs), 0);
  p.abort();
  EXPECT_EQ(p.transaction_id(), 3u);
  EXPECT_EQ(sector_bytes(p.read(1, 0, 2)), (std::vector<int>{2, 1}));
}

TEST(RefPool, FlushAndFuaCommitOnlyChangedDevices) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.create_thin(2), 0);
  write(p, 1, 0, kBs, 1);
  EXPECT_EQ(p.flush(2).status, IoStatus::ok);  // device 2 unchanged: no commit
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 0u);

  RefPool q(params(10));
  ASSERT_EQ(q.create_thin(1), 0);
  write(q, 1, 0, kBs, 1);
  EXPECT_EQ(q.flush(1).status, IoStatus::ok);
  write(q, 1, kBs, 1, 1, /*fua=*/true);
  write(q, 1, 0, 1, 1, /*fua=*/true);  // mapped, device unchanged: no commit needed
  write(q, 1, 2 * kBs, 1, 1);
  q.abort();
  EXPECT_EQ(q.mappings(1).size(), 2u);
}

TEST(RefPool, FlushAfterAbortOfChangedDeviceFails) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.create_thin(2), 0);
  write(p, 1, 0, kBs, 1);
  write(p, 2, 0, kBs, 1);
  p.status_query();
  write(p, 1, kBs, kBs, 1);
  p.abort();
  EXPECT_EQ(p.flush(1).error, EIO);  // its changes were thrown away
  EXPECT_EQ(p.flush(2).status, IoStatus::ok);
  EXPECT_EQ(p.write(1, 0, fill(1, 2), /*fua=*/true).error, EIO);
  EXPECT_EQ(sector_bytes(p.read(1, 0, 1)), std::vector<int>{1});  // never issued
}

TEST(RefPool, FuaWriteInPlaceFailsWhenTheCommitCannotHappen) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  p.set_needs_check();  // read-only with an uncommitted change on device 1
  EXPECT_EQ(p.write(1, 0, fill(1, 2), /*fua=*/true).error, EIO);
  EXPECT_EQ(sector_bytes(p.read(1, 0, 1)), std::vector<int>{1});
  EXPECT_EQ(p.write(1, 0, fill(1, 2)).status, IoStatus::ok);
}

TEST(RefPool, PeriodicCommit) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  // The tick at 1000 is not more than a period after the worker's last commit (none: 0).
  p.advance_time(1000);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 0u);
  write(p, 1, 0, kBs, 1);
  p.advance_time(1000);  // the tick at 2000 commits
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 1u);
  // Past the period, the worker commits as soon as IO passes through it.
  p.advance_time(5000);
  write(p, 1, kBs, kBs, 1);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 2u);
}

TEST(RefPool, StatusNoflushAndSuspendedDoNotCommit) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 1);
  p.status_query(/*noflush=*/true);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 0u);
  write(p, 1, 0, kBs, 1);
  p.suspend();
  EXPECT_EQ(p.open(1), EINVAL);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 1u);
  p.resume();
}

TEST(RefPool, EmptyFlushToUnmappedBlockZeroQueuesWhenOutOfSpace) {
  RefPool p(params(1));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, kBs, kBs, 1);
  ASSERT_EQ(write(p, 1, 2 * kBs, 1, 1), IoStatus::queued);
  EXPECT_EQ(p.flush(1).status, IoStatus::queued);
}

TEST(RefPool, HeldMetadataSnapshotKeepsItsDataBlocksAllocated) {
  RefPool p(params(4));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  ASSERT_EQ(p.reserve_metadata_snap(), 0);
  write(p, 1, 2 * kBs, kBs, 2);          // mapped after the snapshot: freed normally
  EXPECT_EQ(p.discard(1, 0, 3 * kBs), 0);
  EXPECT_EQ(p.mappings(1).size(), 0u);
  EXPECT_EQ(p.used_data_blocks(), 2u);   // the snapshot still maps blocks 0 and 1
  ASSERT_EQ(p.delete_thin(1), 0);
  EXPECT_EQ(p.used_data_blocks(), 2u);
  ASSERT_EQ(p.release_metadata_snap(), 0);
  EXPECT_EQ(p.used_data_blocks(), 0u);
  EXPECT_EQ(p.pending_frees(), 0u);      // the message committed
}

TEST(RefPool, FailedResizeHasAlreadyBoundTheTable) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  IoResult r = p.write(1, 2 * kBs, fill(1, 2));
  ASSERT_EQ(p.mode(), Mode::out_of_data_space);
  p.suspend();
  // pool_preresume binds the table (asking for write mode) before it checks the size.
  EXPECT_EQ(p.resize_data(1), EINVAL);
  EXPECT_EQ(p.mode(), Mode::write);
  EXPECT_EQ(p.resize_data(3), 0);
  EXPECT_EQ(p.completion(r.handle), 0);
}

TEST(RefPool, ReloadReplacesTheFeatures) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, 2 * kBs, 1);
  IoResult r = p.write(1, 2 * kBs, fill(1, 2));
  ASSERT_EQ(r.status, IoStatus::queued);
  PoolParams pp = params(2);
  pp.error_if_no_space = true;
  p.suspend();
  EXPECT_EQ(p.reload(pp), 0);  // no space yet: the queued write now fails
  EXPECT_EQ(p.completion(r.handle), ENOSPC);
  EXPECT_TRUE(p.error_if_no_space());
  EXPECT_EQ(p.write(1, 2 * kBs, fill(1, 2)).error, ENOSPC);
  pp.read_only = true;
  pp.data_blocks = 4;
  p.suspend();
  EXPECT_EQ(p.reload(pp), 0);
  EXPECT_EQ(p.mode(), Mode::read_only);
  EXPECT_EQ(p.data_blocks(), 2u);  // grown in core, but a read-only pool cannot commit it
  pp.block_sectors = 2 * kBs;
  EXPECT_THROW(p.reload(pp), std::invalid_argument);
}

TEST(RefPool, ReopenKeepsWhatTheMetadataHolds) {
  RefPool p(params(4));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.set_transaction_id(0, 7), 0);
  write(p, 1, 0, kBs, 1);
  ASSERT_EQ(p.open(1, ExternalOrigin{kBs, [](uint64_t, std::span<std::byte> out) {
                       std::fill(out.begin(), out.end(), std::byte{9});
                     }}),
            0);
  EXPECT_THROW(p.reopen(params(4)), std::logic_error);  // the device is still open
  p.close(1);
  p.suspend();  // removing the pool device suspends it first
  PoolParams ro = params(4);
  ro.read_only = true;
  EXPECT_EQ(p.reopen(ro), 0);
  EXPECT_EQ(p.mode(), Mode::read_only);
  EXPECT_EQ(p.transaction_id(), 7u);
  EXPECT_EQ(p.mappings(1).size(), 1u);
  EXPECT_EQ(sector_bytes(p.read(1, 0, 1)), std::vector<int>{1});
  EXPECT_EQ(sector_bytes(p.read(1, kBs, 1)), std::vector<int>{0});  // the origin is gone
  p.suspend();
  EXPECT_EQ(p.reopen(params(2)), EINVAL);  // a shorter table: the pool stays suspended
  EXPECT_EQ(p.reopen(params(4)), 0);
  EXPECT_EQ(p.mode(), Mode::write);
}

TEST(RefPool, PeekReadsWithoutRunningTheWorker) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  write(p, 1, 0, kBs, 3);
  ASSERT_EQ(p.create_snap(2, 1), 0);
  write(p, 1, kBs, kBs, 4);
  p.advance_time(1500);  // a commit is due the next time the worker runs
  auto b = p.peek(2, 0);  // a shared block: a read would wake the worker
  ASSERT_TRUE(b);
  EXPECT_EQ(b->data[0], std::byte{3});
  EXPECT_EQ(b->defined, std::vector<bool>(kBs, true));
  EXPECT_EQ(p.peek(2, 1), std::nullopt);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 1u);  // nothing was committed
}

TEST(RefPool, IoHandedBackToDmCoreWaitsForResubmission) {
  RefPool p(params(2));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.create_thin(2), 0);
  write(p, 1, 0, 2 * kBs, 1);
  IoResult a = p.write(1, 2 * kBs, fill(1, 2));
  IoResult b = p.write(2, 0, fill(1, 3));
  ASSERT_EQ(a.status, IoStatus::queued);
  ASSERT_EQ(b.status, IoStatus::queued);
  p.take_device_io(1);  // a noflush suspend of device 1
  p.suspend();
  EXPECT_EQ(p.resize_data(4), 0);
  EXPECT_EQ(p.completion(a.handle), std::nullopt);
  EXPECT_EQ(p.completion(b.handle), 0);
  p.resubmit_device_io(1);
  EXPECT_EQ(p.completion(a.handle), 0);
  EXPECT_EQ(sector_bytes(p.read(1, 2 * kBs, 2)), (std::vector<int>{2, 0}));
}

}  // namespace
}  // namespace thinsim::ref

namespace thinsim::ref {
namespace {

// After an abort an open device's status keeps counting the blocks the abort unmapped
// (the kernel keeps its in-core device details), while its mappings are the last commit's.
TEST(RefPool, AbortKeepsTheInCoreMappedCount) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  ASSERT_EQ(p.open(1), 0);
  write(p, 1, 0, kBs, 1);
  ASSERT_EQ(p.flush(1).status, IoStatus::ok);
  write(p, 1, kBs, kBs, 2);
  p.abort();
  EXPECT_EQ(p.mappings(1).size(), 1u);
  EXPECT_EQ(p.mapped_blocks(1), 2u);
}

// A commit that fails on a metadata write error: abort, needs_check, read-only.
TEST(RefPool, FailedCommitAbortsAndSetsNeedsCheck) {
  RefPool p(params(10));
  ASSERT_EQ(p.create_thin(1), 0);
  p.fail_metadata_commits(1);
  EXPECT_EQ(p.create_thin(2), 0);  // pool_message ignores the failed commit ...
  EXPECT_EQ(p.devices(), std::vector<uint32_t>{1});  // ... whose change is lost
  EXPECT_TRUE(p.needs_check());
  EXPECT_EQ(p.mode(), Mode::read_only);
}

}  // namespace
}  // namespace thinsim::ref
