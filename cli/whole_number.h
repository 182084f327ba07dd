// A CLI11 check for counts, seeds and indexes: digits only. CLI11 converts "-5" to an
// unsigned option by wrapping it round to 2^64 - 5, which for a count is a campaign that
// fills the memory; this refuses it by name instead.
#pragma once

#include <CLI/CLI.hpp>

namespace thinsim::cli {

inline CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return {};
        return "expected a whole number (0 or more), got \"" + s + "\"";
      },
      "WHOLE");
}

}  // namespace thinsim::cli
