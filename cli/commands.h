// The thinsim sub-commands. Each registers itself on the application and stores the
// exit code its run produced in `exit_code`.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace thinsim::cli {

void add_check_command(CLI::App& app, int& exit_code);
void add_dump_command(CLI::App& app, int& exit_code);
void add_restore_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_explore_command(CLI::App& app, int& exit_code);
void add_bugs_command(CLI::App& app, int& exit_code);

// Turns on the bug switches named (each item may be a comma-separated list); on an
// unknown name prints a message naming it (with `what`, the option) and returns false.
bool enable_bugs(const std::vector<std::string>& names, const char* what);
// The same for the THINSIM_BUGS environment variable, read once at start-up.
bool enable_bugs_from_environment();
void add_oracle_command(CLI::App& app, int& exit_code);

}  // namespace thinsim::cli
