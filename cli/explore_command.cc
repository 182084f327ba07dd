// thinsim explore: crash and fault exploration of scenario files over simulated disks,
// every recovered state judged by the crash oracles; thinsim replay: one failure again,
// from its bundle.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/whole_number.h"
#include "cli/crash_bundle.h"
#include "cli/exit_codes.h"
#include "fault/crash/crash_explorer.h"
#include "fault/crash/operation_minimiser.h"
#include "model/bugzoo/bug_switch.h"
#include "harness/scenario_parser.h"
#include "peer/external_command.h"
#include "peer/peer_tools.h"

namespace thinsim::cli {
namespace {

struct ExploreArgs {
  std::vector<std::string> files;
  uint64_t seed = 1;
  uint64_t bound = 256;
  uint32_t samples = 24;
  bool no_tear = false;
  std::string contract;
  std::vector<std::string> disk_contracts;  // NAME=WORDS
  bool no_check_model = false;
  bool keep_going = false;
  bool no_minimise = false;
  uint64_t minimise_trials = 300;  // explorations the operation minimiser may run
  uint64_t peer_sample = 0;
  uint64_t second_crash = 0;
  std::string json_file;
  std::string bundle_dir = "crash-bundles";
  bool quiet = false;
  std::vector<std::string> bugs;
  std::vector<uint64_t> fail_root_copy;  // sm_copy_root fault point: passes before it fires
};

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void progress_line(const std::string& file, const fault::ExploreProgress& p) {
  const double rate = p.seconds > 0 ? double(p.states) / p.seconds : 0;
  std::string eta = "?";
  if (p.io_total && p.crash_points && p.seconds > 0) {
    const double left = double(p.io_total > p.crash_points ? p.io_total - p.crash_points : 0);
    eta = std::to_string(int(left * p.seconds / double(p.crash_points))) + "s";
  }
  std::fprintf(stderr, "\r%s: %llu/%llu crash points, %llu states (%llu distinct), %llu failed, %.0f states/s, ETA %s   ",
               file.c_str(), (unsigned long long)p.crash_points, (unsigned long long)p.io_total,
               (unsigned long long)p.states, (unsigned long long)p.distinct, (unsigned long long)p.failed,
               rate, eta.c_str());
}

int parse_contracts(const ExploreArgs& a, fault::ExploreOptions& o) {
  try {
    if (!a.contract.empty()) o.contract = sim::parse_contract(a.contract);
    for (const std::string& dc : a.disk_contracts) {
      const auto eq = dc.find(':');
      if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument("--disk-contract wants NAME:WORDS, not '" + dc + "'");
      o.disk_contracts[dc.substr(0, eq)] = sim::parse_contract(dc.substr(eq + 1));
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "thinsim explore: %s\n", e.what());
    return kExitUsage;
  }
  return kExitOk;
}

int explore(const ExploreArgs& a) {
  if (!enable_bugs(a.bugs, "--bug")) return kExitUsage;
  fault::ExploreOptions o;
  o.seed = a.seed;
  o.exhaustive_bound = a.bound;
  o.samples = a.samples;
  o.tear.tear_writes = !a.no_tear;
  o.check_model = !a.no_check_model;
  o.stop_at_first_failure = !a.keep_going;
  o.minimise = !a.no_minimise;
  o.peer_sample = a.peer_sample;
  o.second_crash = a.second_crash;
  for (uint64_t after : a.fail_root_copy) o.fault_points.emplace_back(bugzoo::FaultPoint::sm_copy_root, after);
  if (int rc = parse_contracts(a, o)) return rc;
  if (o.peer_sample) {
    try {
      o.thin_check = peer::locate_peer_tools().thin_check;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "thinsim explore: --peer-sample needs thin_check: %s\n", e.what());
      return kExitEnvironment;
    }
  }
  // Parse everything first: a malformed file stops the run before any exploration.
  std::vector<std::pair<std::string, harness::Scenario>> scenarios;
  for (const std::string& f : a.files) {
    try {
      scenarios.emplace_back(f, harness::parse_scenario_file(f));
    } catch (const harness::ScenarioError& e) {
      std::fprintf(stderr, "thinsim explore: %s\n", e.what());
      return e.location().line == 0 ? kExitEnvironment : kExitBadInput;
    }
  }
  if (!a.json_file.empty() && std::filesystem::exists(a.json_file)) {
    std::fprintf(stderr, "thinsim explore: %s exists; not overwriting it\n", a.json_file.c_str());
    return kExitEnvironment;
  }
  const bool tty = !a.quiet && ::isatty(2);
  nlohmann::json summary;
  summary["format"] = "thinsim-explore/1";
  summary["seed"] = a.seed;
  summary["contract"] = o.contract.describe();
  summary["bugs"] = bugzoo::enabled_names();
  summary["scenarios"] = nlohmann::json::array();
  uint64_t total_states = 0, total_distinct = 0, total_failed = 0;
  double total_seconds = 0;
  bool any_failed = false;
  for (auto& [file, scenario] : scenarios) {
    fault::ExploreOptions so = o;
    // A named reference: clang 14 cannot capture a structured binding.
    const std::string& name = file;
    if (tty) so.progress = [&name](const fault::ExploreProgress& p) { progress_line(name, p); };
    fault::CrashExplorer explorer(so);
    fault::ExploreResult r = explorer.run(scenario);
    if (tty) std::fprintf(stderr, "\n");
    total_states += r.states;
    total_distinct += r.distinct;
    total_failed += r.failed;
    total_seconds += r.seconds;
    nlohmann::json s{{"file", file}, {"passed", r.passed()}, {"crash_points", r.crash_points},
                     {"states", r.states}, {"distinct", r.distinct}, {"failed", r.failed},
                     {"commits", r.commits}, {"seconds", r.seconds},
                     {"states_per_second", r.seconds > 0 ? double(r.states) / r.seconds : 0.0},
                     {"dedup_ratio", r.distinct ? double(r.states) / double(r.distinct) : 0.0},
                     {"failed_by_oracle", r.failed_by_oracle}, {"peer_checked", r.peer_checked},
                     {"second_crash_explorations", r.second_crash_explorations},
                     {"second_crash_states", r.second_crash_states},
                     {"peer_disagreements", r.peer_disagreements}};
    if (r.run_failure)
      s["run_failure"] = harness::to_string(r.run_failure->where) + ": " + r.run_failure->message;
    nlohmann::json fails = nlohmann::json::array();
    const std::string text = read_file(file).value_or(harness::to_text(scenario));
    // The first failure's operations are minimised (then its survivors); later ones,
    // with --keep-going, keep the scenario as given.
    std::optional<fault::MinimisedScenario> minimised;
    if (!r.failures.empty() && o.minimise && a.minimise_trials) {
      if (tty) std::fprintf(stderr, "%s: minimising the operations of the %s failure...\n", file.c_str(),
                            r.failures.front().oracle.c_str());
      minimised = fault::OperationMinimiser(so, a.minimise_trials).minimise(scenario, r.failures.front(), r.trace);
      r.failures.front() = minimised->failure;
    }
    for (size_t i = 0; i < r.failures.size(); ++i) {
      const fault::CrashFailure& f = r.failures[i];
      const std::string stem = std::filesystem::path(file).stem().string();
      std::string dir;
      for (int n = 1; n < 10000; ++n) {
        dir = a.bundle_dir + "/" + stem + "-" + f.oracle + "-" + std::to_string(n);
        if (!std::filesystem::exists(dir)) break;
      }
      BundleSource source;
      source.scenario_file = file;
      source.scenario_text = text;
      source.options = &so;
      if (i == 0 && minimised) {
        source.scenario_text = "# minimised from " + file + ": " + std::to_string(minimised->steps_before) +
                               " -> " + std::to_string(minimised->steps_after) + " commands (" +
                               std::to_string(minimised->trials) + " explorations)\n" +
                               harness::to_text(minimised->scenario);
        source.original_text = text;
        source.steps_before = minimised->steps_before;
        source.steps_after = minimised->steps_after;
        source.minimise_trials = minimised->trials;
        source.minimise_budget_exhausted = minimised->budget_exhausted;
      }
      try {
        write_crash_bundle(dir, source, f, i == 0 && minimised ? minimised->trace : r.trace);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "thinsim explore: %s\n", e.what());
        return kExitEnvironment;
      }
      fails.push_back({{"oracle", f.oracle}, {"message", f.message}, {"io", f.seq}, {"step", f.step},
                       {"where", harness::to_string(f.where)}, {"bundle", dir},
                       {"seconds_to_detection", f.seconds_to_detection}});
      if (f.second_seq) fails.back()["second_crash_io"] = f.second_seq;
      if (i == 0 && minimised) {
        fails.back()["commands_before_minimising"] = minimised->steps_before;
        fails.back()["commands"] = minimised->steps_after;
        fails.back()["minimise_explorations"] = minimised->trials;
        std::printf("minimised %s: %zu -> %zu commands in %llu explorations%s\n", file.c_str(),
                    minimised->steps_before, minimised->steps_after, (unsigned long long)minimised->trials,
                    minimised->budget_exhausted ? " (budget spent; --minimise-trials raises it)" : "");
      }
      std::printf("FAIL %s: %s oracle at IO %llu (step %zu, %s: %s)\n  %s\n  crash: %s\n%s  bundle: %s\n  replay: thinsim replay %s\n",
                  file.c_str(), f.oracle.c_str(), (unsigned long long)f.seq, f.step,
                  harness::to_string(f.where).c_str(), f.command.c_str(), f.message.c_str(), f.plan.c_str(),
                  f.second_seq ? ("  second crash: " + f.second_plan + "\n").c_str() : "", dir.c_str(),
                  peer::shell_quote(dir).c_str());
    }
    s["failures"] = fails;
    summary["scenarios"].push_back(s);
    if (r.run_failure)
      std::printf("FAIL %s: the scenario itself failed at %s: %s\n", file.c_str(),
                  harness::to_string(r.run_failure->where).c_str(), r.run_failure->message.c_str());
    if (!r.passed()) any_failed = true;
    if (!a.quiet) {
      std::printf("%s %s: %llu crash points, %llu states, %llu distinct, %llu failed, %llu commits, %.1f s (%.0f states/s)\n",
                  r.passed() ? "ok  " : "FAIL", file.c_str(), (unsigned long long)r.crash_points,
                  (unsigned long long)r.states, (unsigned long long)r.distinct, (unsigned long long)r.failed,
                  (unsigned long long)r.commits, r.seconds, r.seconds > 0 ? double(r.states) / r.seconds : 0.0);
      if (r.second_crash_explorations)
        std::printf("     second crash during recovery: %llu recoveries explored, %llu states\n",
                    (unsigned long long)r.second_crash_explorations, (unsigned long long)r.second_crash_states);
    }
  }
  summary["totals"] = {{"scenarios", scenarios.size()}, {"states", total_states}, {"distinct", total_distinct},
                       {"failed", total_failed}, {"seconds", total_seconds},
                       {"states_per_second", total_seconds > 0 ? double(total_states) / total_seconds : 0.0}};
  if (!a.json_file.empty()) {
    std::ofstream out(a.json_file);
    out << summary.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "thinsim explore: cannot write %s\n", a.json_file.c_str());
      return kExitEnvironment;
    }
  }
  return any_failed ? kExitMetadataBad : kExitOk;
}

int replay(const std::string& dir) {
  LoadedBundle b;
  try {
    b = load_crash_bundle(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thinsim replay: %s\n", e.what());
    return kExitBadInput;
  }
  harness::Scenario scenario;
  try {
    scenario = harness::parse_scenario_file(b.scenario_path);
  } catch (const harness::ScenarioError& e) {
    std::fprintf(stderr, "thinsim replay: %s\n", e.what());
    return kExitBadInput;
  }
  for (const std::string& bug : b.bugs)
    if (!enable_bugs({bug}, "the bundle's bug")) return kExitBadInput;
  b.options.replay = b.choice;
  b.options.minimise = false;
  if (b.choice.seq == 0) b.options.replay.reset();  // not a crash state: the run itself
  fault::CrashExplorer explorer(b.options);
  fault::ExploreResult r = explorer.run(scenario);
  std::printf("bundle: %s oracle: %s\n", b.oracle.c_str(), b.message.c_str());
  if (b.options.replay && !r.replay_reached) {
    std::printf("replay: the run never reached IO %llu%s: the scenario or the model changed\n",
                (unsigned long long)b.choice.seq,
                b.choice.second_seq ? (" (then IO " + std::to_string(b.choice.second_seq) + " of the recovery)").c_str() : "");
    return kExitMetadataBad;
  }
  if (r.failures.empty()) {
    std::printf("replay: passes now (%s)\n", r.run_failure ? r.run_failure->message.c_str() : "no oracle objects");
    return r.run_failure ? kExitMetadataBad : kExitOk;
  }
  const fault::CrashFailure& f = r.failures.front();
  std::printf("replay: %s oracle at IO %llu (step %zu, %s: %s)\n  %s\n  crash: %s\n",
              f.oracle.c_str(), (unsigned long long)f.seq, f.step, harness::to_string(f.where).c_str(),
              f.command.c_str(), f.message.c_str(), f.plan.c_str());
  if (f.second_seq) std::printf("  second crash: %s\n", f.second_plan.c_str());
  return kExitMetadataBad;
}

}  // namespace

void add_explore_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ExploreArgs>();
  CLI::App* cmd = app.add_subcommand("explore", "Crash and fault exploration of scenarios over simulated disks");
  cmd->add_option("scenarios", a->files, "Scenario files")->required()->check(CLI::ExistingFile);
  cmd->add_option("--seed", a->seed, "Seed of the sampled crash states")->check(whole_number());
  cmd->add_option("--bound", a->bound, "Crash points with at most this many states are explored exhaustively")
      ->check(whole_number());
  cmd->add_option("--samples", a->samples, "Seeded samples at crash points beyond the bound")->check(whole_number());
  cmd->add_flag("--no-tear", a->no_tear, "Only lose or keep cached writes whole; never tear them");
  cmd->add_option("--contract", a->contract, "Every disk's contract, e.g. \"atomic=4096 flush=ignored\"");
  cmd->add_option("--disk-contract", a->disk_contracts, "One disk's contract: NAME:WORDS");
  cmd->add_flag("--no-check-model", a->no_check_model, "Do not compare the run with the reference model");
  cmd->add_flag("--keep-going", a->keep_going, "Count every failing state instead of stopping at the first");
  cmd->add_flag("--no-minimise", a->no_minimise, "Keep a failure's operations and survivor set as found");
  cmd->add_option("--minimise-trials", a->minimise_trials,
                  "Explorations the operation minimiser may run for the first failure (default 300; 0: keep the operations)")
      ->check(whole_number());
  cmd->add_option("--peer-sample", a->peer_sample, "Run the real thin_check on every Nth distinct state")->check(whole_number());
  cmd->add_option("--second-crash", a->second_crash,
                  "From every Nth state that passed, run the recovery workload and explore a second crash in it (0: never)")
      ->check(whole_number());
  cmd->add_option("--json", a->json_file, "Write a JSON summary here (must not exist)");
  cmd->add_option("--bundles", a->bundle_dir, "Directory for failure bundles (default crash-bundles)");
  cmd->add_flag("-q,--quiet", a->quiet, "Print failures only");
  cmd->add_option("--fail-root-copy", a->fail_root_copy,
                  "Fail the space-map root copy at commit once, after N passes (dm_sm_copy_root's ENOSPC)")
      ->check(whole_number());
  cmd->add_option("--bug", a->bugs, "Turn on a bug-zoo switch (see thinsim bugs); repeatable");
  cmd->callback([a, &exit_code] { exit_code = explore(*a); });

  auto dir = std::make_shared<std::string>();
  CLI::App* rep = app.add_subcommand("replay", "Rebuild and judge a crash-exploration failure from its bundle");
  rep->add_option("bundle", *dir, "Bundle directory")->required()->check(CLI::ExistingDirectory);
  rep->callback([dir, &exit_code] { exit_code = replay(*dir); });
}

}  // namespace thinsim::cli
