#include "tests/peer/thinsim_binary.h"

#include "peer/external_command.h"
#include "peer/peer_tools.h"

#ifndef THINSIM_BUILT_BINARY
#define THINSIM_BUILT_BINARY ""
#endif

namespace thinsim::peer {

std::string built_thinsim_path() { return THINSIM_BUILT_BINARY; }

std::string locate_thinsim(const std::string& override_path) {
  std::string p = override_path;
  if (p.empty()) {
    const char* env = std::getenv("THINSIM");
    if (env && *env) p = env;
  }
  if (p.empty()) p = built_thinsim_path();
  if (p.empty())
    throw ToolMissing("thinsim binary unknown: this build has no `thinsim` target; set THINSIM=/path/to/thinsim");
  if (!is_executable(p)) throw ToolMissing("thinsim binary not found or not executable: " + p);
  return p;
}

}  // namespace thinsim::peer
