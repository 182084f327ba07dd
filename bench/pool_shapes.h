// Pool shapes for thinsim-bench: the shared pool generator's one-million preset with a
// few knobs changed per shape, fitted to a requested number of mappings.
#pragma once

#include <cstdint>

#include "tests/peer/pool_generator.h"

namespace thinsim::bench {

enum class Shape { random, sequential, shared, mixed };

const char* shape_name(Shape s);
uint32_t default_devices(Shape s);
// The generator's knobs for a shape; the size is fitted afterwards.
peer::PoolSpec shape_spec(Shape shape, uint32_t devices);
// Mapped blocks of a pool, by generating it into /dev/null.
uint64_t count_mappings(const peer::PoolSpec& spec, uint64_t seed);
// Fits the pool to about `target` mappings (exactly, for shapes without snapshots).
peer::PoolSpec fit(peer::PoolSpec spec, Shape shape, uint64_t seed, uint64_t target);

}  // namespace thinsim::bench
