// thinsim bugs: the bug zoo's switches (model/bugzoo/bug_switch.h), which `thinsim run
// --bug ID` and the THINSIM_BUGS environment variable turn on.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "model/bugzoo/bug_switch.h"

namespace thinsim::cli {

void add_bugs_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "bugs", "List the bug switches: historical dm-thin bugs that `run --bug ID` re-introduces");
  auto verbose = std::make_shared<bool>(false);
  cmd->add_flag("-v,--verbose", *verbose, "Also print where each mutation lives and its expected detectors");
  cmd->callback([verbose, &exit_code] {
    for (const bugzoo::BugInfo& b : bugzoo::list()) {
      std::printf("%.*s  tier %d  %.*s\n", static_cast<int>(b.name.size()), b.name.data(), b.tier,
                  static_cast<int>(b.summary.size()), b.summary.data());
      std::printf("          fix: %.*s\n", static_cast<int>(b.fix.size()), b.fix.data());
      if (*verbose) {
        std::printf("          where: %.*s\n", static_cast<int>(b.where.size()), b.where.data());
        std::printf("          expected detectors: %.*s\n", static_cast<int>(b.detectors.size()),
                    b.detectors.data());
      }
    }
    exit_code = kExitOk;
  });
}

bool enable_bugs(const std::vector<std::string>& names, const char* what) {
  try {
    for (const std::string& n : names) bugzoo::enable_list(n);
  } catch (const bugzoo::UnknownBug& e) {
    std::fprintf(stderr, "thinsim: %s: %s\n", what, e.what());
    return false;
  }
  return true;
}

bool enable_bugs_from_environment() {
  const char* env = std::getenv("THINSIM_BUGS");
  if (!env || !*env) return true;
  return enable_bugs({env}, "THINSIM_BUGS");
}

}  // namespace thinsim::cli
