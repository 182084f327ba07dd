// What a simulated disk promises about power failure: the unit it writes atomically,
// whether it has a volatile write cache and honours FLUSH/FUA, and what a discarded
// sector reads as. Crash exploration derives every survivable state from this.
#pragma once

#include <cstdint>
#include <string>

namespace thinsim::sim {

enum class DiscardSemantics : uint8_t {
  zeroes,     // discarded sectors read back as zeroes (REQ_OP_WRITE_ZEROES-like)
  undefined,  // they may read back as anything, old data included
};

struct DiskContract {
  // Power-fail atomic unit in bytes (512 or 4096): a write is torn only at these
  // boundaries, unless torn_sectors is set.
  uint32_t atomic_unit = 512;
  // Completed writes sit in a volatile cache until FLUSH (or FUA); false: write-through.
  bool volatile_cache = true;
  // A cache that lies: FLUSH and FUA complete without making anything durable.
  bool honours_flush = true;
  // A torn unit may itself be torn inside a sector (prefix, suffix, garbage), as on
  // devices without sector atomicity.
  bool torn_sectors = false;
  DiscardSemantics discard = DiscardSemantics::zeroes;

  // "atomic=512 cache=volatile flush=honoured discard=zeroes"
  std::string describe() const;
};

// Parses the words of describe() (any subset, any order); throws std::invalid_argument
// naming the bad word.
DiskContract parse_contract(const std::string& words);

}  // namespace thinsim::sim
