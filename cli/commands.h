// The thinsim sub-commands. Each registers itself on the application and stores the
// exit code its run produced in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace thinsim::cli {

void add_check_command(CLI::App& app, int& exit_code);
void add_dump_command(CLI::App& app, int& exit_code);
void add_restore_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_oracle_command(CLI::App& app, int& exit_code);

}  // namespace thinsim::cli
