// Seeded random scenarios for differential campaigns against the kernel: thin and
// snapshot creation and deletion, partial and whole-block writes, discards, flushes, an
// external origin, transaction ids, metadata snapshots, running out of data space, and
// power cuts (keeping none, all or a seeded choice of the cached writes) with caches that
// ignore flushes for a while, or else IO errors (the metadata disk's writes, every IO of
// the data disk) until cleared. The same seed always gives the same text.
#pragma once

#include <cstdint>
#include <string>

namespace thinsim::kernel {

// The scenario for one seed (commands in the scenario language, comments included).
std::string random_scenario(uint64_t seed);

// The seed of case `index` of a campaign started with `campaign_seed`.
uint64_t random_case_seed(uint64_t campaign_seed, uint64_t index);

}  // namespace thinsim::kernel
