// thinsim: verification harness for the Linux dm-thin metadata format and pool.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace {

constexpr const char* kVersion = "0.1.0";

}  // namespace

int main(int argc, char** argv) {
  using namespace thinsim::cli;
  CLI::App app{"thinsim: a verification harness for dm-thin metadata and pools", "thinsim"};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", kVersion);
  app.failure_message(CLI::FailureMessage::help);

  int exit_code = kExitOk;
  add_check_command(app, exit_code);
  add_dump_command(app, exit_code);
  add_restore_command(app, exit_code);
  add_run_command(app, exit_code);
  add_explore_command(app, exit_code);
  add_bugs_command(app, exit_code);
  if (!enable_bugs_from_environment()) return kExitUsage;
  add_oracle_command(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thinsim: internal error: %s\n", e.what());
    return kExitInternal;
  }
  return exit_code;
}
