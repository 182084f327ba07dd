// Running external programs for the differential tests: fork/exec with an argument vector
// (no shell), captured stdout/stderr, exit status and a timeout; locating the peer
// thin-provisioning-tools and the thinsim binary.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace thinsim::peer {

inline constexpr const char* kInstallHint =
    "thin-provisioning-tools not found: run scripts/setup.sh or apt-get install "
    "thin-provisioning-tools";

struct RunOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // When set, stdout goes to this file (truncated) instead of being captured.
  std::optional<std::string> stdout_file;
  // Captured output beyond this many bytes per stream is dropped (and noted).
  size_t max_capture = size_t{16} << 20;
};

struct CommandResult {
  std::vector<std::string> argv;
  int exit_code = -1;       // valid when exited
  bool exited = false;      // terminated normally
  int term_signal = 0;      // signal that killed it, if any
  bool timed_out = false;   // killed by us after the timeout
  bool spawn_failed = false;
  std::string out;          // captured stdout (empty when redirected to a file)
  std::string err;          // captured stderr
  double seconds = 0;

  bool ok() const { return exited && exit_code == 0; }
  // "exit 1", "killed by signal 11", "timed out after 30.0 s", "could not start: ..."
  std::string status() const;
  // The command line, shell-quoted, for replay instructions.
  std::string command_line() const;
};

// Runs argv[0] (a path, or a name looked up in PATH) with the arguments. Never throws for
// a failing command; throws std::runtime_error only if pipes/fork fail.
CommandResult run_command(const std::vector<std::string>& argv, const RunOptions& opts = {});

// Quotes a word for a POSIX shell when needed.
std::string shell_quote(const std::string& word);
std::string shell_join(const std::vector<std::string>& argv);

// The absolute path of an executable found in PATH, if any.
std::optional<std::string> find_in_path(const std::string& name);

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

// The thinsim binary: `override_path` when non-empty, else $THINSIM, else the path baked in
// at build time (may be empty). Throws ToolMissing when the result is not executable.
std::string locate_thinsim(const std::string& override_path = {});

// The path baked in at build time ($<TARGET_FILE:thinsim>), or "" when the build had none.
std::string built_thinsim_path();

}  // namespace thinsim::peer
