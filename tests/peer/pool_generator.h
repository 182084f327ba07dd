// Deterministic random dm-thin pools, written as XML in exactly the canonical form that
// thin_dump 0.9.0 prints, so that "restore then dump" must reproduce the input byte for byte.
//
// A pool is planned first (one small record per device: id, times, parent snapshot, data
// area) and then streamed device by device; mappings are never held in memory, so pools of
// millions of mappings cost O(devices) memory. A snapshot's mappings are produced by
// replaying its parent's stream (which is a pure function of the plan and the seed),
// filtering it (blocks discarded in the snapshot, writes the parent made after the
// snapshot, everything past a divergence point) and overlaying the snapshot's own writes.
// Data blocks kept from a parent are shared, so chains and siblings give reference counts
// above 2 (the overflow tree).
//
// All random draws use std::mt19937_64 (whose output the standard fixes) and bounded draws
// written here, so a seed gives the same XML on every machine and standard library.
#pragma once

#include <cstdint>
#include <cstdio>
#include <iosfwd>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace thinsim::peer {

inline constexpr uint64_t kMaxThinId = (uint64_t{1} << 24) - 1;
inline constexpr uint32_t kMaxMappingTime = (uint32_t{1} << 24) - 1;  // 24-bit time field
inline constexpr uint32_t kMinDataBlockSize = 128;                    // sectors
inline constexpr uint32_t kMaxDataBlockSize = 2097152;                // sectors

// The knobs of one pool. Every count is an upper bound or a mean; the seed decides the rest.
struct PoolSpec {
  std::string name = "custom";
  uint32_t nr_devices = 8;
  // Mean number of blocks a device writes itself (drawn uniformly in [0, 2 * mean]).
  uint64_t mappings_per_device = 200;
  // Probability that a device is a snapshot of an earlier device ("sharing probability").
  double snapshot_probability = 0.5;
  // Probability that a run of the parent stays shared in a snapshot (otherwise pieces of it
  // are discarded in the snapshot).
  double keep_probability = 0.9;
  // Probability that a snapshot keeps only a prefix of its parent (diverges past a point).
  double prefix_probability = 0.3;
  // Longest snapshot chain (a snapshot of a snapshot of ... an origin).
  uint32_t max_snapshot_depth = 4;
  // Probability that a device (origin or snapshot) writes nothing itself.
  double idle_device_probability = 0.1;
  // Run lengths: mostly uniform in [1, 2 * mean - 1]; sometimes long, up to long_run_max.
  uint64_t mean_run_length = 4;
  double long_run_probability = 0.02;
  uint64_t long_run_max = 1000;
  // Probability that a run's data does not follow the previous run's data directly.
  double data_jump_probability = 0.5;
  // Interleaved allocation areas per device (data blocks are not monotonic in origin order).
  uint32_t data_stripes = 3;
  // Probability that a run is written at a later time than the previous one.
  double time_step_probability = 0.1;
  // Device ids are drawn from [0, max_dev_id] (at most 2^24 - 1).
  uint64_t max_dev_id = kMaxThinId;
  // Thin device size in blocks: every origin block is below it.
  uint64_t virtual_blocks = uint64_t{1} << 20;
  uint32_t data_block_size = 128;  // sectors: a multiple of 128 in [128, 2097152]
  uint64_t data_base = 0;          // first data block handed out (large block numbers)
  uint64_t extra_data_blocks = 0;  // free data blocks after the last allocated area
  uint32_t time_base = 0;          // pool time before the first device is created
  uint32_t extra_time = 0;         // snapshots taken after the last device, since deleted
  uint64_t transaction_base = 0;   // transaction id before the first device is created
  bool needs_check = false;        // superblock flags="1" (NEEDS_CHECK)
  uint32_t version = 1;            // superblock format version (thin_restore 0.9.0 writes 1)

  // Named presets.
  static PoolSpec tiny();         // a few devices, a few dozen mappings
  static PoolSpec small();        // ~10 devices, a few thousand mappings
  static PoolSpec deep_sharing(); // long snapshot chains and many siblings (overflow tree)
  static PoolSpec large_ids();    // ids near 2^24, huge origins, large data block numbers
  static PoolSpec big_trees();    // tens of thousands of mappings per device (3-level trees)
  static PoolSpec one_million();  // ~1,000,000 mappings (benchmarks)
  static PoolSpec huge_data();    // data block numbers across 2^32 (a ~1 GiB data space map)
};

// Named presets: "tiny", "small", "deep_sharing", "large_ids", "big_trees", "one_million",
// "huge_data".
// Throws std::invalid_argument for an unknown name.
PoolSpec preset_spec(std::string_view name);
const std::vector<std::string>& preset_names();

// Size classes for random_spec: every knob is drawn from the seed within the class.
enum class SpecProfile { tiny, small, medium, large, mixed };
SpecProfile parse_profile(std::string_view name);  // throws std::invalid_argument
std::string_view profile_name(SpecProfile p);

// A spec drawn from the seed: device counts, sharing, run lengths, id ranges, one of the
// legal data block sizes, time and transaction bases... all vary with the seed.
PoolSpec random_spec(SpecProfile profile, uint64_t seed);

// Throws std::invalid_argument when the spec cannot describe a legal pool.
void validate_spec(const PoolSpec& spec);

// What a generated pool holds.
struct PoolStats {
  uint64_t nr_devices = 0;
  uint64_t nr_snapshots = 0;
  uint64_t max_depth = 0;          // longest snapshot chain
  uint64_t nr_mappings = 0;        // sum of mapped_blocks
  uint64_t nr_shared_mappings = 0; // mappings kept from a parent (data block shared)
  uint64_t nr_xml_mappings = 0;    // single_mapping + range_mapping elements
  uint64_t nr_data_blocks = 0;
  uint64_t max_data_block = 0;     // highest mapped data block (0 when none)
  uint64_t max_origin_block = 0;
  uint64_t max_dev_id = 0;
  uint64_t xml_bytes = 0;
  uint32_t time = 0;
  uint32_t data_block_size = 0;
};

// Writes the pool XML. The same (spec, seed) always gives the same bytes.
PoolStats write_pool_xml(const PoolSpec& spec, uint64_t seed, std::ostream& out);
PoolStats write_pool_xml(const PoolSpec& spec, uint64_t seed, std::FILE* out);
// Writes to a file; throws std::runtime_error when it cannot be written.
PoolStats write_pool_xml_file(const PoolSpec& spec, uint64_t seed, const std::string& path);

// A metadata device size (bytes) comfortably large enough for thin_restore of this pool.
uint64_t metadata_size_for(const PoolStats& stats);

// ---- deterministic randomness shared by the peer harness ----

// SplitMix64 finaliser: a good 64-bit mixer, used to derive independent seeds.
uint64_t mix64(uint64_t x);
// A seed derived from a parent seed and a stream number.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

// Bounded draws over std::mt19937_64 that do not depend on the standard library's
// distributions (whose outputs differ between implementations).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n);
  // Uniform in [lo, hi] (inclusive); lo <= hi; the full 64-bit range is allowed.
  uint64_t between(uint64_t lo, uint64_t hi);
  // True with probability p (p <= 0 never, p >= 1 always).
  bool chance(double p);
  // Uniform in [0, 1).
  double unit();

 private:
  std::mt19937_64 engine_;
};

}  // namespace thinsim::peer
