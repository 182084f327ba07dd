#include "fault/crash_chooser.h"

#include <stdexcept>

namespace thinsim::fault {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint32_t ExhaustiveChooser::choose(uint32_t n) {
  if (n == 0) throw std::invalid_argument("choose(0)");
  if (pos_ < digits_.size()) {
    // Replaying the prefix of the current sequence; its shape cannot change.
    if (digits_[pos_].n != n) throw std::logic_error("exhaustive chooser: decision tree changed shape");
    return record(digits_[pos_++].value);
  }
  digits_.push_back({0, n});
  ++pos_;
  return record(0);
}

bool ExhaustiveChooser::next() {
  pos_ = 0;
  made_.clear();
  while (!digits_.empty()) {
    Digit& d = digits_.back();
    if (d.value + 1 < d.n) {
      ++d.value;
      return true;
    }
    digits_.pop_back();
  }
  return false;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

SeededChooser::SeededChooser(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t SeededChooser::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint32_t SeededChooser::choose(uint32_t n) {
  if (n == 0) throw std::invalid_argument("choose(0)");
  // Lemire's multiply-shift: unbiased enough for 32-bit ranges and the same everywhere.
  return record(uint32_t((unsigned __int128)(next_u64() >> 32) * n >> 32));
}

uint32_t ByteChooser::choose(uint32_t n) {
  if (n == 0) throw std::invalid_argument("choose(0)");
  if (n == 1) return record(0);
  uint32_t v = 0;
  for (uint32_t range = 1; range < n && pos_ < bytes_.size(); range <<= 8) v = (v << 8) | bytes_[pos_++];
  return record(v % n);
}

uint32_t ReplayChooser::choose(uint32_t n) {
  if (n == 0) throw std::invalid_argument("choose(0)");
  const uint32_t v = pos_ < replay_.size() ? replay_[pos_] : 0;
  ++pos_;
  return record(v < n ? v : 0);
}

}  // namespace thinsim::fault
