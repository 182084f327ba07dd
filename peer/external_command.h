// Running external programs: fork/exec with an argument vector (no shell), captured
// stdout/stderr, exit status and a timeout. Used to drive the peer tools
// (thin-provisioning-tools) and, in tests, the thinsim binary itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace thinsim::peer {

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

// True if path names a regular file this process may execute.
bool is_executable(const std::string& path);

}  // namespace thinsim::peer
