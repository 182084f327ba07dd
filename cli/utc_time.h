// The current time in UTC, for report timestamps and run directory names.
#pragma once

#include <string>

namespace thinsim::cli {

// strftime of the current UTC time; the default is ISO 8601 ("2026-12-01T22:07:02Z").
std::string utc_now(const char* format = "%Y-%m-%dT%H:%M:%SZ");

}  // namespace thinsim::cli
