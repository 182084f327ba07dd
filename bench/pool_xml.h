// A small deterministic pool-XML generator private to the benchmark. It exists only
// until the shared generator (tests/peer/pool_generator.h) is available; the benchmark
// must not keep both.
//
// The output is in the exact dialect thin_dump 0.9.0 prints (runs already coalesced,
// two-space indentation), so dumping restored metadata must reproduce it byte for byte.
#pragma once

#include <cstdint>
#include <string>

namespace thinsim::bench {

enum class PoolShape {
  random,      // every device maps dense virtual blocks to shuffled data blocks: nearly all
               // <single_mapping>, every data block referenced once
  sequential,  // runs of 1..128 blocks with small gaps: mostly <range_mapping>
  shared,      // a chain of snapshots: device i is device i-1 with 1/8 of its blocks
               // rewritten, so untouched data blocks have reference counts up to --devices
};

struct PoolSpec {
  uint64_t mappings = 1'000'000;  // total mapped blocks summed over all devices
  uint32_t devices = 4;
  PoolShape shape = PoolShape::random;
  uint32_t data_block_size = 128;  // sectors
};

struct PoolStats {
  uint64_t bytes = 0;        // size of the XML file
  uint64_t mappings = 0;     // mapped blocks written
  uint64_t runs = 0;         // <single_mapping> + <range_mapping> elements
  uint64_t nr_data_blocks = 0;
  uint32_t max_sharing = 0;  // highest number of devices mapping one data block
};

// Writes the pool to `path` (replacing it); the same spec and seed always give the same
// bytes. Throws std::runtime_error on I/O errors and std::invalid_argument on a bad spec.
PoolStats write_pool_xml(const PoolSpec& spec, uint64_t seed, const std::string& path);

const char* shape_name(PoolShape shape);

}  // namespace thinsim::bench
