// The contents of one abstract data block (one token) of the reference model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace thinsim::ref {

inline constexpr uint64_t kSectorBytes = 512;

// Bytes are stored only once something is written; until then every byte reads as zero.
// A sector is undefined when it still holds whatever the data device had before
// (skip_block_zeroing, discard passdown): it reads as zero here and must not be compared.
class BlockContent {
 public:
  BlockContent(uint32_t sectors, bool defined);

  uint32_t sectors() const { return sectors_; }
  bool defined(uint32_t sector) const { return undefined_.empty() || !undefined_[sector]; }
  // Copies sectors [first, first + out.size() / 512) into `out`, appends their flags.
  void read(uint32_t first, std::span<std::byte> out, std::vector<bool>& defined) const;
  // Writes whole sectors from `first`; they become defined.
  void write(uint32_t first, std::span<const std::byte> in);
  void undefine_all();

 private:
  uint32_t sectors_;
  std::vector<std::byte> bytes_;  // empty: all zero
  std::vector<bool> undefined_;   // empty: all defined
};

}  // namespace thinsim::ref
