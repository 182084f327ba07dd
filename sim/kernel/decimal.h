// Strict decimal numbers for the guest tools' arguments and control lines: digits only,
// no sign, no blanks, no overflow (strtoull would take "-1" as 2^64 - 1 and " 5" as 5).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace thinsim::kernel {

inline std::optional<uint64_t> parse_decimal(std::string_view s) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace thinsim::kernel
