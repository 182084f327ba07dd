// The peer tools: the real thin-provisioning-tools that thinsim is compared with.
#pragma once

#include <stdexcept>
#include <string>

#include "peer/external_command.h"

namespace thinsim::peer {

inline constexpr const char* kInstallHint =
    "thin-provisioning-tools not found: run scripts/setup.sh or apt-get install "
    "thin-provisioning-tools";

// The peer tools (absolute paths).
struct PeerTools {
  std::string thin_restore;
  std::string thin_check;
  std::string thin_dump;
  std::string version;  // what `thin_dump --version` prints, trimmed
};

class ToolMissing : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Finds thin_restore, thin_check and thin_dump in PATH (or THINSIM_PEER_DIR when set).
// Throws ToolMissing with kInstallHint when any is missing.
PeerTools locate_peer_tools();

}  // namespace thinsim::peer
