// Who decides what a power cut leaves behind: every decision (does this cached write
// survive? where is it torn?) is one choose(n) call, so one interface serves the three
// drivers: an exhaustive odometer over all decision sequences, a seeded PRNG for
// sampling beyond the exhaustive bound, and fuzzer bytes. Each records the choices it
// made, so a crash state can be replayed from the list.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace thinsim::fault {

class CrashChooser {
 public:
  virtual ~CrashChooser() = default;
  // A decision among n >= 1 options: returns a value in [0, n).
  virtual uint32_t choose(uint32_t n) = 0;
  // The choices made since the state began.
  const std::vector<uint32_t>& choices() const { return made_; }

 protected:
  uint32_t record(uint32_t v) {
    made_.push_back(v);
    return v;
  }
  std::vector<uint32_t> made_;
};

// Enumerates every decision sequence depth-first: state by state, next() moves to the
// following one (the last decision that has options left advances, later ones restart).
class ExhaustiveChooser final : public CrashChooser {
 public:
  uint32_t choose(uint32_t n) override;
  // False when every sequence has been produced.
  bool next();

 private:
  struct Digit {
    uint32_t value, n;
  };
  std::vector<Digit> digits_;
  size_t pos_ = 0;
};

// splitmix64-seeded xoshiro256**: the same seed gives the same choices on every machine.
class SeededChooser final : public CrashChooser {
 public:
  explicit SeededChooser(uint64_t seed);
  uint32_t choose(uint32_t n) override;
  uint64_t next_u64();
  void start_state() { made_.clear(); }

 private:
  uint64_t s_[4];
};

// Decisions from a byte string (a fuzzer's input); 0 once the bytes run out.
class ByteChooser final : public CrashChooser {
 public:
  explicit ByteChooser(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint32_t choose(uint32_t n) override;
  size_t consumed() const { return pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// The choices of a recorded state, again (a bundle's replay); 0 beyond the list.
class ReplayChooser final : public CrashChooser {
 public:
  explicit ReplayChooser(std::vector<uint32_t> choices) : replay_(std::move(choices)) {}
  uint32_t choose(uint32_t n) override;

 private:
  std::vector<uint32_t> replay_;
  size_t pos_ = 0;
};

uint64_t splitmix64(uint64_t& state);

}  // namespace thinsim::fault
