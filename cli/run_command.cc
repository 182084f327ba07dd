// thinsim run: executes scenario files against the model pool and checks their
// expectations (and, with --check-model, the reference model after every step).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "harness/model_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"

namespace thinsim::cli {

namespace {

struct RunOptions {
  std::vector<std::string> files;
  bool check_model = false;
  bool verbose = false;
  uint64_t no_space_timeout_ms = 60'000;
};

int run_scenarios(const RunOptions& o) {
  int worst = kExitOk;
  for (const std::string& file : o.files) {
    harness::Scenario scenario;
    try {
      scenario = harness::parse_scenario_file(file);
    } catch (const harness::ScenarioError& e) {
      std::fprintf(stderr, "thinsim run: %s\n", e.what());
      // Line 0: the file itself could not be read, not a malformed scenario.
      return e.location().line == 0 ? kExitEnvironment : kExitBadInput;
    }
    harness::ScenarioRunner runner;
    runner.set_no_space_timeout_ms(o.no_space_timeout_ms);
    harness::ModelCheck model_check(o.no_space_timeout_ms);
    if (o.check_model) runner.add_observer(model_check);
    harness::RunResult r = runner.run(scenario);
    if (o.verbose)
      for (const std::string& line : r.trace) std::printf("  %s\n", line.c_str());
    if (r.passed()) {
      std::printf("PASS %s (%zu steps%s)\n", file.c_str(), r.steps,
                  o.check_model ? ", reference model agrees" : "");
    } else {
      const harness::StepFailure& f = *r.failure;
      std::printf("FAIL %s: %s\n  command: %s\n", harness::to_string(f.where).c_str(),
                  f.message.c_str(), f.command.c_str());
      if (!o.verbose) {
        // The last steps lead up to the failure.
        size_t from = r.trace.size() > 12 ? r.trace.size() - 12 : 0;
        std::printf("  trace (last steps):\n");
        for (size_t i = from; i < r.trace.size(); ++i) std::printf("    %s\n", r.trace[i].c_str());
      }
      worst = kExitMetadataBad;
    }
  }
  return worst;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run scenario files against the model pool");
  cmd->add_option("files", opts->files, "Scenario files")->required();
  cmd->add_flag("--check-model", opts->check_model,
                "Compare the pool with the reference model after every step");
  cmd->add_flag("-v,--verbose", opts->verbose, "Print every step and the kernel log lines");
  cmd->add_option("--no-space-timeout", opts->no_space_timeout_ms,
                  "dm-thin's no_space_timeout in milliseconds of simulated time (0 = never)")
      ->capture_default_str();
  cmd->callback([opts, &exit_code] { exit_code = run_scenarios(*opts); });
}

}  // namespace thinsim::cli
