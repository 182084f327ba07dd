// IO fault injection: FaultyDisk fails what its rule names, leaves the disk untouched
// when it does, and heals.
#include <gtest/gtest.h>

#include <vector>

#include "fault/faulty_disk.h"
#include "model/pdata/error.h"
#include "model/pdata/memory_block_device.h"

namespace thinsim::fault {
namespace {

std::vector<std::byte> sector(uint8_t v) { return std::vector<std::byte>(512, std::byte{v}); }

TEST(FaultyDisk, FailsTheNamedOperationsAfterSomeSucceedAndForACount) {
  FaultyDisk d("d", std::make_unique<pdata::MemoryBlockDevice>(64));
  IoFaultRule r;
  r.ops = kWrite;
  r.after = 1;
  r.count = 2;
  d.set_rule(r);
  auto one = sector(1);
  d.write(0, one);                                           // skipped by after=1
  EXPECT_THROW(d.write(1, sector(2)), pdata::IoError);       // fails ...
  EXPECT_THROW(d.write(2, sector(3)), pdata::IoError);       // ... twice
  d.write(3, sector(4));                                     // then the disk is healthy again
  std::vector<std::byte> buf(512);
  d.read(1, buf);  // reads were never affected
  EXPECT_EQ(buf, sector(0));  // the failed write changed nothing
  d.read(3, buf);
  EXPECT_EQ(buf, sector(4));
  EXPECT_EQ(d.failures(), 2u);
  d.flush();
}

TEST(FaultyDisk, UntilClearedAndForEachKindOfOperation) {
  FaultyDisk d("d", std::make_unique<pdata::MemoryBlockDevice>(64));
  IoFaultRule forever;
  forever.ops = kFlush | kRead | kDiscard;
  d.set_rule(forever);
  std::vector<std::byte> buf(512);
  for (int i = 0; i < 3; ++i) {
    EXPECT_THROW(d.flush(), pdata::IoError);
    EXPECT_THROW(d.read(0, buf), pdata::IoError);
    EXPECT_THROW(d.discard(0, 8), pdata::IoError);
  }
  d.write(0, sector(9));
  d.set_rule(std::nullopt);
  d.flush();
  d.read(0, buf);
  EXPECT_EQ(buf, sector(9));
}

TEST(IoFault, OpsSpelling) {
  EXPECT_EQ(ops_to_string(kWrite | kFlush), "write,flush");
  EXPECT_EQ(ops_to_string(kAnyOp), "any");
  EXPECT_EQ(op_from_string("discard"), unsigned(kDiscard));
  EXPECT_EQ(op_from_string("fsync"), 0u);
}

}  // namespace
}  // namespace thinsim::fault
