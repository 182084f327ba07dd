// thinsim run: executes scenario files against the model pool and checks their
// expectations; --check-model compares the reference model after every step and
// --check-peer puts the metadata of every commit through thin_check and thin_dump.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/whole_number.h"
#include "cli/exit_codes.h"
#include "cli/scenario_report.h"
#include "cli/utc_time.h"
#include "harness/model_check.h"
#include "harness/peer_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "model/bugzoo/bug_switch.h"
#include "model/pool/pool.h"
#include "peer/peer_tools.h"

namespace thinsim::cli {

namespace {

struct RunOptions {
  std::vector<std::string> files;
  bool check_model = false;
  bool check_peer = false;
  std::string peer_dir;
  bool verbose = false;
  uint64_t no_space_timeout_ms = pool::kDefaultNoSpaceTimeoutMs;
  std::string report_dir;
  bool force = false;
  std::string command_line;
  std::vector<std::string> bugs;  // --bug: bug-zoo switches to turn on
};

// "thinsim run" and the options that change what a run checks, for replay commands and
// the report.
std::string run_command_prefix(const RunOptions& o) {
  std::string cmd = "thinsim run";
  if (o.check_model) cmd += " --check-model";
  if (o.check_peer) cmd += " --check-peer";
  if (o.no_space_timeout_ms != pool::kDefaultNoSpaceTimeoutMs)
    cmd += " --no-space-timeout " + std::to_string(o.no_space_timeout_ms);
  // Switches from --bug or THINSIM_BUGS: a replay needs them too.
  for (bugzoo::BugId id : bugzoo::enabled_bugs()) cmd += " --bug " + std::string(bugzoo::info(id).name);
  return cmd;
}

std::string replay_command(const RunOptions& o, const std::string& file) {
  return run_command_prefix(o) + " -v " + peer::shell_quote(file);
}

// A new scratch directory for one scenario's images (nothing existing is reused).
std::string make_scratch_dir(const std::string& parent) {
  std::string base = parent.empty() ? std::filesystem::temp_directory_path().string() : parent;
  std::string tmpl = base + "/thinsim-peer-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return {};
  return tmpl;
}

int run_one(const RunOptions& o, const std::string& file, const peer::PeerTools* tools,
            ScenarioOutcome& outcome) {
  const auto start = std::chrono::steady_clock::now();
  outcome.file = file;
  outcome.replay = replay_command(o, file);
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
  std::unique_ptr<harness::PeerCheck> peer_check;
  std::string scratch;
  if (tools) {
    scratch = make_scratch_dir(o.peer_dir);
    if (scratch.empty()) {
      std::fprintf(stderr, "thinsim run: cannot make a scratch directory in %s\n",
                   o.peer_dir.empty() ? "the temporary directory" : o.peer_dir.c_str());
      return kExitEnvironment;
    }
    harness::PeerCheck::ReferenceLookup lookup;
    if (o.check_model) lookup = [&](const std::string& md) { return model_check.reference(md); };
    peer_check = std::make_unique<harness::PeerCheck>(runner.dm(), *tools, scratch, lookup);
    runner.add_observer(*peer_check);
  }
  harness::RunResult r = runner.run(scenario);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.steps = r.steps;
  outcome.passed = r.passed();
  outcome.trace = r.trace;
  if (peer_check) outcome.commits_checked = peer_check->commits_checked();
  if (o.verbose)
    for (const std::string& line : r.trace) std::printf("  %s\n", line.c_str());
  std::string checks;
  if (o.check_model && model_check.stopped_at())
    checks += ", reference model agrees up to " + harness::to_string(*model_check.stopped_at()) +
              " (it has no media faults or power cuts)";
  else if (o.check_model)
    checks += ", reference model agrees";
  if (peer_check)
    checks += ", " + std::to_string(peer_check->commits_checked()) + " commits pass thin_check and thin_dump";
  if (r.passed()) {
    std::printf("PASS %s (%zu steps%s)\n", file.c_str(), r.steps, checks.c_str());
    if (!scratch.empty()) std::filesystem::remove_all(scratch);
    return kExitOk;
  }
  const harness::StepFailure& f = *r.failure;
  outcome.where = harness::to_string(f.where);
  outcome.message = f.message;
  outcome.command = f.command;
  if (!scratch.empty()) outcome.peer_dir = scratch;
  std::printf("FAIL %s: %s\n  command: %s\n", harness::to_string(f.where).c_str(), f.message.c_str(),
              f.command.c_str());
  if (!o.verbose) {
    // The last steps lead up to the failure.
    size_t from = r.trace.size() > 12 ? r.trace.size() - 12 : 0;
    std::printf("  trace (last steps):\n");
    for (size_t i = from; i < r.trace.size(); ++i) std::printf("    %s\n", r.trace[i].c_str());
  }
  if (!scratch.empty() && o.report_dir.empty())
    std::printf("  metadata images and dumps kept in %s\n", scratch.c_str());
  std::printf("  replay: %s\n", replay_command(o, file).c_str());
  return kExitMetadataBad;
}

int run_scenarios(const RunOptions& o) {
  std::optional<peer::PeerTools> tools;
  if (o.check_peer) {
    try {
      tools = peer::locate_peer_tools();
    } catch (const peer::ToolMissing& e) {
      std::fprintf(stderr, "thinsim run: --check-peer: %s\n", e.what());
      return kExitEnvironment;
    }
  }
  namespace fs = std::filesystem;
  if (!o.report_dir.empty() && !o.force && fs::exists(fs::path(o.report_dir) / "scenarios.json")) {
    std::fprintf(stderr, "thinsim run: %s already holds a scenario report; refusing to overwrite it (use --force)\n",
                 o.report_dir.c_str());
    return kExitEnvironment;
  }
  ScenarioRunInfo info{utc_now(), 0, o.check_model, o.check_peer, o.command_line};
  const auto start = std::chrono::steady_clock::now();
  std::vector<ScenarioOutcome> outcomes;
  int worst = kExitOk;
  for (const std::string& file : o.files) {
    ScenarioOutcome outcome;
    const int rc = run_one(o, file, tools ? &*tools : nullptr, outcome);
    if (rc == kExitBadInput || rc == kExitEnvironment) return rc;
    if (rc != kExitOk) worst = rc;
    outcomes.push_back(std::move(outcome));
  }
  if (!o.report_dir.empty()) {
    info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    try {
      write_scenario_report(o.report_dir, info, outcomes);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "thinsim run: %s\n", e.what());
      return kExitEnvironment;
    }
    std::printf("report: %s/scenarios.json (%zu scenarios)\n", o.report_dir.c_str(), outcomes.size());
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
  cmd->add_flag("--check-peer", opts->check_peer,
                "Run thin_check and thin_dump on the metadata at every commit (and, with "
                "--check-model, compare the dump with the reference model)");
  cmd->add_option("--peer-dir", opts->peer_dir,
                  "Where --check-peer makes its scratch directories (default: $TMPDIR)")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("-v,--verbose", opts->verbose, "Print every step and the kernel log lines");
  cmd->add_option("--report", opts->report_dir,
                  "Write scenarios.json, scenarios-junit.xml and failure bundles to this directory "
                  "(and a line to its parent's history.jsonl)");
  cmd->add_flag("--force", opts->force, "Replace an existing scenario report in --report's directory");
  cmd->add_option("--no-space-timeout", opts->no_space_timeout_ms,
                  "dm-thin's no_space_timeout in milliseconds of simulated time (0 = never)")
      ->capture_default_str()
      ->check(whole_number());
  cmd->add_option("--bug", opts->bugs,
                  "Turn on a bug-zoo switch, re-introducing a historical dm-thin bug (repeatable; "
                  "see `thinsim bugs`)")
      ->allow_extra_args(false);
  cmd->callback([opts, &exit_code] {
    if (!enable_bugs(opts->bugs, "run --bug")) {
      exit_code = kExitUsage;
      return;
    }
    if (!bugzoo::enabled_bugs().empty())
      std::fprintf(stderr, "thinsim run: bug switches on: %s\n", bugzoo::enabled_names().c_str());
    // The run as a command line, for the report.
    std::string& c = opts->command_line;
    c = run_command_prefix(*opts);
    for (const std::string& f : opts->files) c += " " + peer::shell_quote(f);
    exit_code = run_scenarios(*opts);
  });
}

}  // namespace thinsim::cli
