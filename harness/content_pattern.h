// Content patterns: the data a scenario writes and the data it expects to read back.
//
// Every pattern is a pure function of the *absolute byte offset on the device*, so a read of
// any sub-range can be checked against the pattern a larger write used:
//   zero        every byte 0x00
//   byte:0xAB   every byte 0xAB
//   seed:N      pseudo-random: the byte at offset o is byte (o % 8) of the little-endian
//               64-bit word SplitMix64(N, o / 8), where SplitMix64(N, i) is output number i
//               (counting from 0) of the SplitMix64 generator seeded with N:
//               z = N + (i + 1) * 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//               z = (z ^ (z >> 27)) * 0x94D049BB133111EB; word = z ^ (z >> 31)   (mod 2^64)
//   text:"abc"  the string repeated from offset 0: the byte at offset o is s[o % s.size()]
//   undefined   expectations only: any content matches; it cannot be written
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace thinsim::harness {

class ContentPattern {
 public:
  enum class Kind { zero, byte, seed, text, undefined };

  // The first byte at which data differs from the pattern.
  struct Mismatch {
    uint64_t offset;  // absolute device byte offset
    std::byte expected;
    std::byte actual;
  };

  ContentPattern() = default;  // zero
  static ContentPattern zero() { return ContentPattern(); }
  static ContentPattern byte(uint8_t value);
  static ContentPattern seed(uint64_t seed);
  // Throws std::invalid_argument for an empty string.
  static ContentPattern text(std::string text);
  static ContentPattern undefined();

  Kind kind() const { return kind_; }
  uint8_t byte_value() const { return byte_; }             // Kind::byte
  uint64_t seed_value() const { return seed_; }            // Kind::seed
  const std::string& text_value() const { return text_; }  // Kind::text

  // The pattern's byte at an absolute device offset (0 for undefined).
  std::byte at(uint64_t device_byte_offset) const;

  // Fills `out` with the pattern's bytes for [device_byte_offset, device_byte_offset +
  // out.size()). Offsets wrap modulo 2^64. Throws std::logic_error for `undefined`, which
  // has no bytes.
  void fill(uint64_t device_byte_offset, std::span<std::byte> out) const;

  // The first byte of `data`, which was read from device_byte_offset, that differs from the
  // pattern; nullopt when all match (always for `undefined`).
  std::optional<Mismatch> first_mismatch(uint64_t device_byte_offset,
                                         std::span<const std::byte> data) const;

  // True when `data` matches; otherwise stores the first mismatch in *first if given.
  bool matches(uint64_t device_byte_offset, std::span<const std::byte> data,
               Mismatch* first = nullptr) const;

  // The scenario-language spelling: zero, byte:0xab, seed:7, text:"a\"b", undefined.
  std::string to_string() const;

  // "at byte 4100 expected 0x3c, got 0x00 (pattern seed:7)".
  std::string describe(const Mismatch& m) const;

  friend bool operator==(const ContentPattern&, const ContentPattern&) = default;

 private:
  Kind kind_ = Kind::zero;
  uint8_t byte_ = 0;
  uint64_t seed_ = 0;
  std::string text_;
};

// Output number `index` (from 0) of the SplitMix64 generator seeded with `seed`.
uint64_t splitmix64_at(uint64_t seed, uint64_t index);

}  // namespace thinsim::harness
