// Reads and validates raw metadata blocks for the checker. Unlike the block manager it
// reports problems as values, keeps no cache and never throws for damaged contents.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "model/pdata/block_device.h"
#include "model/pdata/checksum.h"

namespace thinsim::check {

using Block = std::array<std::byte, 4096>;

class BlockReader {
 public:
  explicit BlockReader(pdata::BlockDevice& dev);

  uint64_t nr_blocks() const { return nr_blocks_; }

  // Reads block b into out. On failure returns false and describes why in `error`
  // (beyond the device end, I/O error).
  bool read(uint64_t b, Block& out, std::string& error);

  // Reads block b and checks it is a `kind` block stored at b: checksum and blocknr.
  // Names another kind when the checksum matches that one instead.
  bool read_validated(uint64_t b, pdata::BlockKind kind, Block& out, std::string& error);

  uint64_t nr_reads() const { return nr_reads_; }
  // Called every 256 reads with the number of blocks read so far.
  void set_progress(std::function<void(uint64_t)> fn) { progress_ = std::move(fn); }

 private:
  pdata::BlockDevice& dev_;
  uint64_t nr_blocks_;
  uint64_t nr_reads_ = 0;
  std::function<void(uint64_t)> progress_;
};

}  // namespace thinsim::check
