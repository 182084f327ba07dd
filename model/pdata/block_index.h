// A map from metadata block numbers to small values, for indexes the hot paths consult on
// every block access (the block cache, the transaction's shadow set). Block numbers on a
// metadata device are dense and clustered, so a two-level radix table with leaves
// allocated on first use beats hashing, and memory follows the blocks actually touched.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace thinsim::pdata {

template <typename T>
class BlockIndex {
 public:
  // T's value-initialised state means "absent".
  T get(uint64_t b) const {
    uint64_t hi = b >> kLeafBits;
    if (hi >= kMaxLeaves) {
      auto it = far_.find(b);
      return it == far_.end() ? T{} : it->second;
    }
    if (hi >= leaves_.size() || !leaves_[hi]) return T{};
    return (*leaves_[hi])[b & kLeafMask];
  }
  void set(uint64_t b, T value) {
    uint64_t hi = b >> kLeafBits;
    if (hi >= kMaxLeaves) {
      far_[b] = value;
      return;
    }
    if (hi >= leaves_.size()) leaves_.resize(hi + 1);
    if (!leaves_[hi]) leaves_[hi] = std::make_unique<Leaf>();
    (*leaves_[hi])[b & kLeafMask] = value;
  }
  void clear() {
    leaves_.clear();
    far_.clear();
  }

 private:
  static constexpr unsigned kLeafBits = 12;  // 4096 entries per leaf
  // Blocks beyond 2^28 (far past the 4,161,600-block metadata limit) are rare enough to
  // hash, which keeps the leaf table small whatever a device claims.
  static constexpr uint64_t kMaxLeaves = uint64_t(1) << 16;
  static constexpr uint64_t kLeafMask = (uint64_t(1) << kLeafBits) - 1;
  struct Leaf {
    T slots[uint64_t(1) << kLeafBits] = {};
    T& operator[](uint64_t i) { return slots[i]; }
    const T& operator[](uint64_t i) const { return slots[i]; }
  };
  std::vector<std::unique_ptr<Leaf>> leaves_;
  std::unordered_map<uint64_t, T> far_;
};

}  // namespace thinsim::pdata
