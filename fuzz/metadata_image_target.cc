// libFuzzer target: arbitrary bytes as a metadata image (up to 32 blocks). The checker,
// the dumper and the pool model opening the image must each give a verdict, never crash,
// hang or throw anything but their documented error types.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "model/check/metadata_checker.h"
#include "model/pdata/checksum.h"
#include "model/pdata/endian.h"
#include "model/pdata/error.h"
#include "model/pdata/memory_block_device.h"
#include "model/thin/metadata_dumper.h"
#include "model/thin/metadata_visitor.h"
#include "model/thin/pool_metadata.h"

namespace {

using namespace thinsim;

constexpr size_t kMaxBlocks = 32;

class NullVisitor final : public thin::MetadataVisitor {
 public:
  void begin_superblock(const thin::SuperblockInfo&) override {}
  void end_superblock() override {}
  void begin_device(const thin::DeviceInfo&) override {}
  void end_device() override {}
  void mapping(const thin::MappingRun&) override {}
};

// Checksums would stop almost every mutation at the first read, so the last byte of each
// block can ask for the block to be re-stamped as a given kind (valid checksum and
// location) after mutation: values 0-3 pick a kind, anything else leaves the block be.
void restamp(std::byte* block, uint64_t location) {
  uint8_t choice = static_cast<uint8_t>(block[4095]);
  if (choice >= 4) return;
  auto kind = static_cast<pdata::BlockKind>(choice);
  pdata::store_le64(block + 8, location);
  pdata::store_le32(block, pdata::block_checksum(block, kind));
}

std::unique_ptr<pdata::MemoryBlockDevice> image(const uint8_t* data, size_t size) {
  size_t blocks = (size + 4095) / 4096;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  auto dev = std::make_unique<pdata::MemoryBlockDevice>(blocks * 8);
  std::vector<std::byte> buf(blocks * 4096);
  if (!buf.empty()) std::memcpy(buf.data(), data, std::min(size, buf.size()));
  for (size_t b = 0; b < blocks; ++b) restamp(buf.data() + b * 4096, b);
  dev->write(0, std::span<const std::byte>(buf.data(), buf.size()));
  return dev;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto dev = image(data, size);

  check::check_metadata(*dev, check::CheckOptions{});
  check::CheckOptions snap;
  snap.metadata_snap = true;
  check::check_metadata(*dev, snap);

  NullVisitor v;
  try {
    thin::dump_metadata(*dev, thin::DumpOptions{}, v);
  } catch (const thin::DumpError&) {
  }

  // The model on hostile metadata: errors must come out as PdataErrors.
  try {
    thin::PoolMetadata::Options o;
    o.format_device = false;
    o.data_block_size = 128;
    check::CheckOptions sb_only;
    sb_only.super_block_only = true;
    auto sb = check::check_metadata(*dev, sb_only);
    if (sb.superblock) o.data_block_size = sb.superblock->data_block_size;
    thin::PoolMetadata pmd(*dev, o);
    pmd.create_thin(1 << 20);
    pmd.commit();
  } catch (const pdata::PdataError&) {
  }
  return 0;
}
