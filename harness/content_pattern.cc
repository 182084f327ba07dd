#include "harness/content_pattern.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace thinsim::harness {

namespace {

// Bytes from `offset` up to the 2^64 wrap-around (saturated to SIZE_MAX).
size_t bytes_before_wrap(uint64_t offset) {
  if (offset == 0) return SIZE_MAX;
  uint64_t left = 0 - offset;
  return left > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(left);
}

std::string hex_byte(std::byte b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(b));
  return buf;
}

}  // namespace

uint64_t splitmix64_at(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

ContentPattern ContentPattern::byte(uint8_t value) {
  ContentPattern p;
  p.kind_ = Kind::byte;
  p.byte_ = value;
  return p;
}

ContentPattern ContentPattern::seed(uint64_t seed) {
  ContentPattern p;
  p.kind_ = Kind::seed;
  p.seed_ = seed;
  return p;
}

ContentPattern ContentPattern::text(std::string text) {
  if (text.empty()) throw std::invalid_argument("a text pattern needs at least one byte");
  ContentPattern p;
  p.kind_ = Kind::text;
  p.text_ = std::move(text);
  return p;
}

ContentPattern ContentPattern::undefined() {
  ContentPattern p;
  p.kind_ = Kind::undefined;
  return p;
}

std::byte ContentPattern::at(uint64_t offset) const {
  switch (kind_) {
    case Kind::zero:
    case Kind::undefined:
      return std::byte{0};
    case Kind::byte:
      return std::byte{byte_};
    case Kind::seed:
      return static_cast<std::byte>(splitmix64_at(seed_, offset >> 3) >> (8 * (offset & 7)));
    case Kind::text:
      return static_cast<std::byte>(text_[offset % text_.size()]);
  }
  return std::byte{0};
}

void ContentPattern::fill(uint64_t offset, std::span<std::byte> out) const {
  switch (kind_) {
    case Kind::undefined:
      throw std::logic_error("the undefined pattern has no bytes to write");
    case Kind::zero:
      std::fill(out.begin(), out.end(), std::byte{0});
      return;
    case Kind::byte:
      std::fill(out.begin(), out.end(), std::byte{byte_});
      return;
    case Kind::seed: {
      size_t i = 0;
      while (i < out.size()) {
        // 2^64 is a multiple of 8, so a word never straddles the wrap-around.
        unsigned first = static_cast<unsigned>(offset & 7);
        size_t take = std::min<size_t>(8 - first, out.size() - i);
        uint64_t word = splitmix64_at(seed_, offset >> 3);
        for (size_t k = 0; k < take; ++k)
          out[i + k] = static_cast<std::byte>(word >> (8 * (first + k)));
        i += take;
        offset += take;
      }
      return;
    }
    case Kind::text: {
      size_t i = 0;
      while (i < out.size()) {
        size_t pos = static_cast<size_t>(offset % text_.size());
        size_t take = std::min({text_.size() - pos, out.size() - i, bytes_before_wrap(offset)});
        std::memcpy(out.data() + i, text_.data() + pos, take);
        i += take;
        offset += take;
      }
      return;
    }
  }
}

std::optional<ContentPattern::Mismatch> ContentPattern::first_mismatch(
    uint64_t offset, std::span<const std::byte> data) const {
  switch (kind_) {
    case Kind::undefined:
      return std::nullopt;
    case Kind::zero:
    case Kind::byte: {
      std::byte want{kind_ == Kind::byte ? byte_ : uint8_t{0}};
      auto it = std::find_if(data.begin(), data.end(), [&](std::byte b) { return b != want; });
      if (it == data.end()) return std::nullopt;
      size_t i = static_cast<size_t>(it - data.begin());
      return Mismatch{offset + i, want, *it};
    }
    case Kind::seed:
    case Kind::text:
      break;
  }
  std::array<std::byte, 4096> expected;
  for (size_t i = 0; i < data.size();) {
    size_t n = std::min(expected.size(), data.size() - i);
    fill(offset + i, std::span<std::byte>(expected.data(), n));
    if (std::memcmp(expected.data(), data.data() + i, n) != 0) {
      for (size_t k = 0; k < n; ++k)
        if (expected[k] != data[i + k]) return Mismatch{offset + i + k, expected[k], data[i + k]};
    }
    i += n;
  }
  return std::nullopt;
}

bool ContentPattern::matches(uint64_t offset, std::span<const std::byte> data,
                             Mismatch* first) const {
  auto m = first_mismatch(offset, data);
  if (m && first) *first = *m;
  return !m;
}

std::string ContentPattern::to_string() const {
  switch (kind_) {
    case Kind::zero:
      return "zero";
    case Kind::undefined:
      return "undefined";
    case Kind::byte:
      return "byte:" + hex_byte(std::byte{byte_});
    case Kind::seed:
      return "seed:" + std::to_string(seed_);
    case Kind::text: {
      std::string s = "text:\"";
      for (char c : text_) {
        if (c == '"' || c == '\\') s += '\\';
        s += c;
      }
      s += '"';
      return s;
    }
  }
  return "?";
}

std::string ContentPattern::describe(const Mismatch& m) const {
  return "at byte " + std::to_string(m.offset) + " expected " + hex_byte(m.expected) + ", got " +
         hex_byte(m.actual) + " (pattern " + to_string() + ")";
}

}  // namespace thinsim::harness
