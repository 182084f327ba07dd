// Locating the thinsim binary under test, for tests that run it as a program.
#pragma once

#include <string>

namespace thinsim::peer {

// The thinsim binary: `override_path` when non-empty, else $THINSIM, else the path baked in
// at build time (may be empty). Throws ToolMissing when the result is not executable.
std::string locate_thinsim(const std::string& override_path = {});

// The path baked in at build time ($<TARGET_FILE:thinsim>), or "" when the build had none.
std::string built_thinsim_path();

}  // namespace thinsim::peer
