// thinsim oracle: runs scenarios on the model and in the real kernel's dm-thin (the pinned
// Debian kernel under qemu, sim/kernel/) and compares the two step by step; --random N
// --seed S makes seeded random scenarios for differential campaigns.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/oracle_campaign.h"
#include "cli/whole_number.h"
#include "harness/scenario_parser.h"
#include "peer/external_command.h"
#include "peer/peer_tools.h"
#include "sim/kernel/kernel_vm.h"
#include "sim/kernel/oracle_case.h"
#include "sim/kernel/random_scenario.h"

namespace thinsim::cli {

namespace {

namespace fs = std::filesystem;
using namespace thinsim::kernel;

std::string quote(const std::string& s) { return peer::shell_quote(s); }

int run_oracle(const OracleOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<OracleEntry> entries;
  for (const std::string& f : o.files) {
    OracleEntry e;
    e.name = f;
    e.replay = "thinsim oracle " + quote(f);
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "thinsim oracle: %s: cannot read scenario\n", f.c_str());
      return kExitEnvironment;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      harness::Scenario s = harness::parse_scenario(text, f);
      e.oc = prepare_case(s, f, text);
    } catch (const harness::ScenarioError& err) {
      std::fprintf(stderr, "thinsim oracle: %s\n", err.what());
      return kExitBadInput;
    } catch (const Untranslatable& u) {
      e.skipped = u.what();
    }
    entries.push_back(std::move(e));
  }
  for (uint64_t n = o.first; n < o.first + o.random; ++n) {
    OracleEntry e;
    const uint64_t s = random_case_seed(o.seed, n);
    e.name = "random:" + std::to_string(o.seed) + ":" + std::to_string(n);
    e.replay = "thinsim oracle --random 1 --seed " + std::to_string(o.seed) + " --first " + std::to_string(n);
    const std::string text = random_scenario(s);
    try {
      e.oc = prepare_case(harness::parse_scenario(text, e.name), e.name, text);
    } catch (const std::exception& err) {
      std::fprintf(stderr, "thinsim oracle: generated scenario %s: %s\n", e.name.c_str(), err.what());
      return kExitInternal;
    }
    entries.push_back(std::move(e));
  }

  std::string work = o.work_dir;
  if (work.empty()) {
    std::string tmpl = fs::temp_directory_path().string() + "/thinsim-oracle-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "thinsim oracle: cannot make a work directory\n");
      return kExitEnvironment;
    }
    work = tmpl;
  }
  fs::create_directories(work);
  peer::PeerTools tools;
  KernelSetup setup;
  try {
    tools = peer::locate_peer_tools();
    setup = prepare_kernel(o.kernel_cache.empty() ? default_kernel_cache() : o.kernel_cache, work + "/setup.log");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thinsim oracle: could not run the kernel: %s\n", e.what());
    return kExitKernelUnavailable;
  }
  const KernelVm vm(setup);
  std::printf("oracle: kernel %s (qemu TCG), work directory %s\n", setup.version.c_str(), work.c_str());
  for (const OracleEntry& e : entries)
    if (!e.oc) std::printf("SKIP %s: %s\n", e.name.c_str(), e.skipped.c_str());
  std::fflush(stdout);
  OracleCampaign campaign(o, entries, work, tools, vm);
  try {
    campaign.run();
  } catch (const KernelUnavailable& e) {
    std::fprintf(stderr, "thinsim oracle: could not run the kernel: %s\n", e.what());
    return kExitKernelUnavailable;
  }
  const OracleTally& t = campaign.tally();
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const size_t skipped = entries.size() - t.compared;
  std::printf("oracle: %zu cases: %zu same (%zu only on a second run), %zu differ, %zu skipped; metadata byte-identical after teardown: "
              "%zu/%zu (%.0f%%); %.0f cases/min (%zu boots, %.1f s to reach the batch per boot, %.1f s in qemu, %.1f s total)\n",
              entries.size(), t.same, t.timing, t.differ, skipped, t.identical, t.compared,
              t.compared ? 100.0 * t.identical / t.compared : 0.0, total > 0 ? t.compared * 60.0 / total : 0.0, t.boots,
              t.boots ? t.ready_seconds / t.boots : 0.0, t.guest_seconds, total);
  return t.differ ? kExitMetadataBad : kExitOk;
}

}  // namespace

void add_oracle_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<OracleOptions>();
  CLI::App* cmd = app.add_subcommand("oracle", "Run scenarios on the model and in the real kernel (qemu) and compare");
  cmd->add_option("files", opts->files, "Scenario files");
  // Bounded: a negative number must not wrap round to a campaign that fills the memory.
  cmd->add_option("--random", opts->random, "Also run this many seeded random scenarios")
      ->check(whole_number() & CLI::Range(uint64_t{0}, uint64_t{1000000}));
  cmd->add_option("--seed", opts->seed, "Seed of the random scenarios")->capture_default_str()->check(whole_number());
  cmd->add_option("--first", opts->first, "Index of the first random scenario (to replay one)")
      ->check(whole_number());
  cmd->add_option("--batch", opts->batch, "Cases per boot of the guest")->capture_default_str()
      ->check(whole_number() & CLI::Range(size_t{1}, size_t{10000}));
  cmd->add_option("-j,--jobs", opts->jobs, "Guests booted at once")->capture_default_str()
      ->check(whole_number() & CLI::Range(size_t{1}, size_t{64}));
  cmd->add_option("--lanes", opts->lanes, "Cases run at once in each guest")->capture_default_str()
      ->check(whole_number() & CLI::Range(size_t{1}, size_t{16}));
  cmd->add_option("--kernel-cache", opts->kernel_cache,
                  "Where the kernel package, vmlinuz and initramfs live (default: $THINSIM_KERNEL_CACHE or build/kernel)");
  cmd->add_option("--work", opts->work_dir, "Work directory for the images and failure bundles (default: a new one in $TMPDIR)");
  cmd->add_flag("!--no-confirm", opts->confirm, "Do not run differing cases a second time");
  cmd->add_flag("--keep", opts->keep, "Keep the images of cases that agree");
  cmd->add_flag("-v,--verbose", opts->verbose, "Print every case that agrees");
  cmd->callback([opts, &exit_code] {
    if (opts->files.empty() && opts->random == 0) {
      std::fprintf(stderr, "thinsim oracle: give scenario files or --random N\n");
      exit_code = kExitUsage;
      return;
    }
    if (opts->batch == 0) opts->batch = 1;
    exit_code = run_oracle(*opts);
  });
}

}  // namespace thinsim::cli
