// The simulated disk's cache and fault overlay, the crash choosers and crash plans.
#include <gtest/gtest.h>

#include "fault/crash_chooser.h"
#include "fault/crash_image.h"
#include "fault/crash_plan.h"
#include "model/pdata/error.h"
#include "model/pdata/memory_block_device.h"
#include "sim/sim_disk.h"

namespace thinsim {
namespace {

std::vector<std::byte> sector_of(uint8_t v, size_t sectors = 1) {
  return std::vector<std::byte>(sectors * 512, std::byte{v});
}

struct DiskFixture : ::testing::Test {
  sim::IoClock clock;
  std::unique_ptr<sim::SimDisk> disk(sim::DiskContract c = {}) {
    return std::make_unique<sim::SimDisk>("d", 1, std::make_unique<pdata::MemoryBlockDevice>(64), c, clock);
  }
  static uint8_t durable_byte(sim::SimDisk& d, uint64_t s) {
    std::vector<std::byte> b(512);
    d.read_durable(s, b);
    return uint8_t(b[0]);
  }
};

TEST_F(DiskFixture, CachedWritesAreVisibleButNotDurableUntilFlush) {
  auto d = disk();
  d->write(3, sector_of(7));
  std::vector<std::byte> b(512);
  d->read(3, b);
  EXPECT_EQ(uint8_t(b[0]), 7);
  EXPECT_EQ(durable_byte(*d, 3), 0);
  EXPECT_EQ(d->pending().size(), 1u);
  d->flush();
  EXPECT_EQ(durable_byte(*d, 3), 7);
  EXPECT_TRUE(d->pending().empty());
}

TEST_F(DiskFixture, FuaIsDurableAtOnceAndSupersedesOlderCachedCopies) {
  auto d = disk();
  d->write(3, sector_of(1));
  d->write(3, sector_of(2), {.fua = true});
  EXPECT_EQ(durable_byte(*d, 3), 2);
  ASSERT_EQ(d->pending().size(), 1u);
  EXPECT_FALSE(d->pending()[0].live[0]);  // the older copy can no longer land on top
  d->flush();
  EXPECT_EQ(durable_byte(*d, 3), 2);
}

TEST_F(DiskFixture, IgnoredFlushMakesNothingDurable) {
  sim::DiskContract c;
  c.honours_flush = false;
  auto d = disk(c);
  d->write(0, sector_of(9), {.fua = true});
  d->flush();
  EXPECT_EQ(durable_byte(*d, 0), 0);
}

TEST_F(DiskFixture, ACacheThatStartsLyingIsAFaultThatClears) {
  auto d = disk();
  d->ignore_flushes();
  EXPECT_TRUE(d->ignoring_flushes());
  EXPECT_TRUE(d->has_faults());
  EXPECT_FALSE(d->contract().honours_flush);
  d->write(0, sector_of(9), {.fua = true});
  d->flush();
  EXPECT_EQ(durable_byte(*d, 0), 0);
  d->clear_faults();
  EXPECT_FALSE(d->ignoring_flushes());
  EXPECT_TRUE(d->contract().honours_flush);
  d->flush();
  EXPECT_EQ(durable_byte(*d, 0), 9);
}

TEST_F(DiskFixture, MisdirectedWriteLandsElsewhereInTheOverlayOnly) {
  auto d = disk();
  d->write(10, sector_of(1));
  d->flush();
  d->misdirect_next_writes(1, -2);
  d->write(10, sector_of(5));
  std::vector<std::byte> b(512);
  d->read(10, b);
  EXPECT_EQ(uint8_t(b[0]), 1);  // the write never arrived where it was sent
  d->read(8, b);
  EXPECT_EQ(uint8_t(b[0]), 5);  // it arrived here
  d->set_faults_enabled(false);
  d->read(10, b);
  EXPECT_EQ(uint8_t(b[0]), 5);
  d->read(8, b);
  EXPECT_EQ(uint8_t(b[0]), 0);
}

TEST_F(DiskFixture, FaultOverlayKeepsCleanDataApart) {
  auto d = disk();
  d->write(5, sector_of(0));
  d->flush();
  d->flip_bit(5, 3);
  std::vector<std::byte> b(512);
  d->read(5, b);
  EXPECT_EQ(uint8_t(b[0]), 8);
  d->set_faults_enabled(false);
  d->read(5, b);
  EXPECT_EQ(uint8_t(b[0]), 0);
  d->set_faults_enabled(true);
  d->add_latent_error(6);
  EXPECT_THROW(d->read(6, b), pdata::IoError);
  d->lose_next_writes(1);
  d->write(7, sector_of(4));
  d->read(7, b);
  EXPECT_EQ(uint8_t(b[0]), 0);  // acknowledged, never arrived
  d->clear_faults();
  d->read(7, b);
  EXPECT_EQ(uint8_t(b[0]), 4);
}

TEST_F(DiskFixture, ContentsIgnoreLatentErrorsAndTheOverlayCanBeWrittenIn) {
  auto d = disk();
  d->write(5, sector_of(1));
  d->flip_bit(5, 1);
  d->add_latent_error(6);
  std::vector<std::byte> b(2 * 512);
  EXPECT_THROW(d->read(5, b), pdata::IoError);
  d->read_contents(5, b);  // what an image of the disk shows: the flip, no error
  EXPECT_EQ(uint8_t(b[0]), 1 ^ 2);
  d->write_overlay_to_media();
  EXPECT_FALSE(d->has_faults());
  std::vector<std::byte> media(512);
  d->media().read(5, media);
  EXPECT_EQ(uint8_t(media[0]), 1 ^ 2) << "the cached write and the flip over it are in the media";
  d->read(5, b);
  EXPECT_EQ(uint8_t(b[0]), 1 ^ 2);
}

TEST(CrashChooser, ExhaustiveEnumeratesEveryDecisionSequence) {
  fault::ExhaustiveChooser c;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  do {
    const uint32_t a = c.choose(2), b = c.choose(3);
    seen.insert({a, b});
  } while (c.next());
  EXPECT_EQ(seen.size(), 6u);
}

TEST(CrashChooser, SeededIsReproducibleAndReplayRepeatsChoices) {
  fault::SeededChooser a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.choose(1000), b.choose(1000));
  fault::ReplayChooser r(a.choices());
  for (uint32_t v : a.choices()) EXPECT_EQ(r.choose(1000), v);
  const uint8_t bytes[] = {5, 1, 2};
  fault::ByteChooser f(bytes);
  EXPECT_EQ(f.choose(4), 1u);
  EXPECT_EQ(f.choose(2), 1u);
}

TEST_F(DiskFixture, CrashPlanTearsAtTheAtomicUnitAndHashesTheImage) {
  auto d = disk();
  d->write(0, sector_of(1, 8));  // one 4 KiB write: 8 units of 512 B
  sim::SimDisk* disks[] = {d.get()};
  EXPECT_EQ(fault::CrashPlan::state_count(disks, {}), 2u + 2 * 7);
  fault::ExhaustiveChooser c;
  std::set<uint64_t> hashes;
  size_t states = 0;
  do {
    fault::CrashPlan p = fault::CrashPlan::choose(disks, c, {});
    fault::CrashImage img(*d, p.overlay(0));
    std::vector<std::byte> b(8 * 512);
    img.read(0, b);
    size_t kept = 0;
    for (size_t s = 0; s < 8; ++s) kept += b[s * 512] == std::byte{1};
    EXPECT_EQ(kept, p.overlay(0).size());
    hashes.insert(p.image_hash(0));
    ++states;
  } while (c.next());
  EXPECT_EQ(states, 16u);
  EXPECT_EQ(hashes.size(), 16u);  // lost, whole, 7 prefixes, 7 suffixes: all different
  sim::DiskContract big;
  big.atomic_unit = 4096;
  auto d4 = disk(big);
  d4->write(0, sector_of(1, 8));
  sim::SimDisk* disks4[] = {d4.get()};
  EXPECT_EQ(fault::CrashPlan::state_count(disks4, {}), 2u);  // one unit: never torn
}

}  // namespace
}  // namespace thinsim
