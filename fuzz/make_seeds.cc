// Writes seed images for the metadata image fuzzer: small valid pools (thins, snapshots,
// shared data blocks, a metadata snapshot) and a few damaged variants.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "model/pdata/checksum.h"
#include "model/pdata/memory_block_device.h"
#include "model/thin/pool_metadata.h"

using namespace thinsim;

namespace {

void save(const pdata::MemoryBlockDevice& dev_c, const std::filesystem::path& p) {
  auto& dev = const_cast<pdata::MemoryBlockDevice&>(dev_c);
  std::vector<std::byte> buf(dev.nr_sectors() * 512);
  dev.read(0, buf);
  // Mark every metadata block for re-stamping as its own kind (see the fuzz target).
  for (size_t b = 0; b * 4096 < buf.size(); ++b) {
    std::byte* block = buf.data() + b * 4096;
    auto kind = pdata::identify_block(block);
    block[4095] = kind ? static_cast<std::byte>(*kind) : std::byte{0xff};
  }
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(buf.data()), buf.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  std::filesystem::path dir(argv[1]);
  std::filesystem::create_directories(dir);
  for (int variant = 0; variant < 4; ++variant) {
    pdata::MemoryBlockDevice dev(32 * 8);
    thin::PoolMetadata::Options o;
    thin::PoolMetadata pmd(dev, o);
    pmd.resize_data_dev(2000);
    pmd.create_thin(1);
    pmd.commit();
    auto& td = pmd.open_thin(1);
    for (uint64_t v = 0; v < 150u * (variant + 1); v += 1 + variant)
      pmd.insert_block(td, v, pmd.alloc_data_block());
    pmd.close_thin(td);
    pmd.commit();
    if (variant >= 1) {
      pmd.create_snap(2, 1);
      pmd.commit();
      auto& s = pmd.open_thin(2);
      for (uint64_t v = 0; v < 60; ++v) pmd.insert_block(s, v, pmd.alloc_data_block());
      pmd.close_thin(s);
      pmd.commit();
    }
    if (variant >= 2) {
      pmd.reserve_metadata_snap();
      pmd.commit();
    }
    if (variant == 3) {
      pmd.create_snap(3, 2);
      pmd.delete_thin(1);
      pmd.commit();
    }
    pmd.close();
    save(dev, dir / ("pool-" + std::to_string(variant)));
  }
  return 0;
}
