#include "bench/pool_shapes.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace thinsim::bench {

const char* shape_name(Shape s) {
  switch (s) {
    case Shape::random: return "random";
    case Shape::sequential: return "sequential";
    case Shape::shared: return "shared";
    case Shape::mixed: return "mixed";
  }
  return "?";
}

uint32_t default_devices(Shape s) {
  switch (s) {
    case Shape::shared: return 8;
    case Shape::mixed: return peer::PoolSpec::one_million().nr_devices;
    default: return 4;
  }
}

// The generator's knobs for a shape; the size is fitted afterwards.
peer::PoolSpec shape_spec(Shape shape, uint32_t devices) {
  peer::PoolSpec s = peer::PoolSpec::one_million();  // the benchmark preset: its sizes and ids
  s.name = std::string("bench-") + shape_name(shape);
  s.nr_devices = devices;
  if (shape == Shape::mixed) return s;
  s.idle_device_probability = 0;
  s.long_run_probability = 0;
  s.time_step_probability = 0;
  switch (shape) {
    case Shape::random:  // one block per run, every run jumps: all <single_mapping>
      s.snapshot_probability = 0;
      s.mean_run_length = 1;
      s.data_jump_probability = 1;
      break;
    case Shape::sequential:  // long runs: mostly <range_mapping>
      s.snapshot_probability = 0;
      s.mean_run_length = 64;
      s.long_run_probability = 0.02;
      s.long_run_max = 2000;
      s.data_jump_probability = 0.3;
      break;
    case Shape::shared:  // snapshots of snapshots keeping nearly everything: counts > 2
      s.snapshot_probability = 0.9;
      s.keep_probability = 0.97;
      s.prefix_probability = 0.1;
      s.max_snapshot_depth = 6;
      s.mean_run_length = 1;
      s.data_jump_probability = 1;
      break;
    case Shape::mixed: break;
  }
  return s;
}

// Mapped blocks of a pool, by generating it into /dev/null.
uint64_t count_mappings(const peer::PoolSpec& spec, uint64_t seed) {
  std::FILE* f = std::fopen("/dev/null", "wb");
  if (!f) throw std::runtime_error("cannot open /dev/null");
  peer::PoolStats st;
  try {
    st = peer::write_pool_xml(spec, seed, f);
  } catch (...) {
    std::fclose(f);
    throw;
  }
  std::fclose(f);
  return st.nr_mappings;
}

// Fits the pool to about `target` mappings. The generator draws each device's own writes
// uniformly in [0, 2 * mappings_per_device] (capped at virtual_blocks), so the total of a
// few devices varies widely and does not scale smoothly with the mean.
// - Shapes without snapshots use the cap: every device writes all of its virtual_blocks
//   (dense origins), so the pool holds devices * (target / devices) mappings exactly.
// - Shapes with snapshots estimate the mean from one pass, then try means around it and
//   keep the pool closest to the target (each try generates into /dev/null).
peer::PoolSpec fit(peer::PoolSpec spec, Shape shape, uint64_t seed, uint64_t target) {
  if (shape == Shape::random || shape == Shape::sequential) {
    spec.virtual_blocks = std::max<uint64_t>(1, target / spec.nr_devices);
    spec.mappings_per_device = uint64_t{1} << 32;  // draws below the cap are ~1e-4 likely
    return spec;
  }
  spec.mappings_per_device = std::max<uint64_t>(1, target / spec.nr_devices);
  uint64_t first = count_mappings(spec, seed);
  if (first == 0 || target == 0) return spec;
  double estimate = static_cast<double>(spec.mappings_per_device) * static_cast<double>(target) /
                    static_cast<double>(first);
  auto distance = [&](uint64_t n) { return n > target ? n - target : target - n; };
  uint64_t best_mean = spec.mappings_per_device, best_distance = distance(first);
  for (int k = 0; k < 8 && best_distance > target / 50; ++k) {
    double factor = 1 + 0.03 * ((k + 1) / 2) * (k % 2 ? -1 : 1);  // 1, 0.97, 1.03, 0.94, ...
    spec.mappings_per_device = std::max<uint64_t>(1, static_cast<uint64_t>(estimate * factor + 0.5));
    uint64_t d = distance(count_mappings(spec, seed));
    if (d < best_distance) best_distance = d, best_mean = spec.mappings_per_device;
  }
  spec.mappings_per_device = best_mean;
  return spec;
}

}  // namespace thinsim::bench
