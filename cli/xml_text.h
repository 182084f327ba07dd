// Text for XML attributes and character data (the JUnit reports).
#pragma once

#include <string>

namespace thinsim::cli {

// Escapes & < > " ' and replaces the control characters XML 1.0 forbids with '?'.
std::string xml_escape(const std::string& s);

}  // namespace thinsim::cli
