// thinsim oracle: runs scenarios on the model and in the real kernel's dm-thin (the pinned
// Debian kernel under qemu, sim/kernel/) and compares the two step by step; --random N
// --seed S makes seeded random scenarios for differential campaigns.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <semaphore>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/whole_number.h"
#include "harness/scenario_parser.h"
#include "peer/peer_tools.h"
#include "sim/kernel/guest_script.h"
#include "sim/kernel/kernel_vm.h"
#include "sim/kernel/model_side.h"
#include "sim/kernel/oracle_case.h"
#include "sim/kernel/oracle_comparison.h"
#include "sim/kernel/random_scenario.h"

namespace thinsim::cli {

namespace {

namespace fs = std::filesystem;
using namespace thinsim::kernel;

struct OracleOptions {
  std::vector<std::string> files;
  uint64_t random = 0;
  uint64_t seed = 1;
  uint64_t first = 0;  // index of the first random case
  size_t batch = 100;
  // Guests at once, and cases at once in each. A case spends much of its time idle,
  // waiting out the commit timer before each discard; cases in lanes of one guest fill
  // that time for less than more guests would (each guest its own boot and qemu). On 2
  // cores 2 guests of 8 lanes were fastest (docs/kernel-oracle.md).
  size_t jobs = 2;
  size_t lanes = 8;
  std::string kernel_cache;
  std::string work_dir;
  bool keep = false;
  bool confirm = true;
  bool verbose = false;
};

struct Entry {
  std::string name;
  std::string replay;
  std::optional<OracleCase> oc;
  std::string skipped;  // why it cannot run in the guest
  std::optional<CaseComparison> result;
  std::string kernel_problem;
  std::string first_bundle;  // the first run's, for a case run again
};

std::string quote(const std::string& s) { return peer::shell_quote(s); }

// Writes a failure bundle: the scenario, both sides' outcomes, the images (already in
// case_dir) and a replay command.
void write_bundle(const Entry& e, const std::string& case_dir, const KernelCaseResult* kr,
                  const ModelSide* model, size_t k) {
  std::ofstream(case_dir + "/scenario.scn") << e.oc->source;
  std::ofstream steps(case_dir + "/steps.txt");
  for (size_t i = 0; i < e.oc->run.commands.size(); ++i) {
    steps << e.oc->step_location(i) << ": " << harness::to_text(e.oc->run.commands[i]) << "\n";
    if (kr && kr->steps[i]) {
      steps << "  kernel: " << normalise_kernel_outcome(kr->steps[i]->outcome, k, kr->steps[i]->device_numbers)
            << "   [" << kr->steps[i]->outcome << "]\n";
      for (auto& c : kr->steps[i]->commits) steps << "  kernel commit: " << c << "\n";
    }
    if (model && i < model->steps().size()) {
      steps << "  model:  " << model->steps()[i].outcome << "\n";
      for (auto& c : model->steps()[i].commits) steps << "  model commit:  " << c << "\n";
    }
  }
  std::ofstream(case_dir + "/replay.txt") << "thinsim oracle " << quote(case_dir + "/scenario.scn") << "\n";
}

int run_oracle(const OracleOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<Entry> entries;
  for (const std::string& f : o.files) {
    Entry e;
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
    Entry e;
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
  std::counting_semaphore<> comparing(2);
  std::printf("oracle: kernel %s (qemu TCG), work directory %s\n", setup.version.c_str(), work.c_str());
  std::fflush(stdout);

  std::vector<size_t> pending;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].oc) pending.push_back(i);
    else std::printf("SKIP %s: %s\n", entries[i].name.c_str(), entries[i].skipped.c_str());
  size_t boots = 0, same = 0, differ = 0, identical = 0, compared = 0;
  double ready_total = 0, guest_seconds = 0;
  // Cases that differ are run once more, in a batch of their own with one guest at a time:
  // a difference the second run does not repeat came from the kernel's wall-clock timing
  // (docs/kernel-oracle.md) and is counted apart.
  bool confirming = false;
  std::vector<size_t> to_confirm;
  size_t timing = 0;
  for (;;) {
    if (pending.empty()) {
      if (confirming || to_confirm.empty()) break;
      confirming = true;
      pending = std::move(to_confirm);
      std::printf("oracle: running the %zu differing cases again, one guest at a time\n", pending.size());
      std::fflush(stdout);
      continue;
    }
    // Up to `jobs` guests at once, the pending cases shared out between them.
    struct Boot {
      std::vector<size_t> entries;
      std::vector<const OracleCase*> cases;
      GuestBatch batch;
      std::string dir;
      KernelBatchResult kr;
      size_t done = 0;  // cases the guest reached, compared into their Entry
      std::future<void> compared;
    };
    std::vector<Boot> round;
    round.reserve(o.jobs + 1);  // the guests' threads refer to their Boot: it must not move
    const size_t jobs = confirming ? 1 : std::max<size_t>(1, std::min(o.jobs, pending.size()));
    const size_t per_boot = std::min(o.batch, (pending.size() + jobs - 1) / jobs);
    // The round's cases, longest first, dealt out to the guest with the least work so far:
    // each guest's lanes claim them in that order, so a long case does not start last and
    // keep its guest up alone (the same cases always go the same way).
    const size_t taken = std::min(pending.size(), jobs * per_boot);
    std::vector<size_t> chosen(pending.begin(), pending.begin() + static_cast<long>(taken));
    auto cost = [&](size_t e) {
      const OracleCase& oc = *entries[e].oc;
      return oc.sleep_ms + 40 * oc.run.commands.size() + 1000 * oc.crashes.size();  // ms, roughly
    };
    std::stable_sort(chosen.begin(), chosen.end(), [&](size_t a, size_t b) { return cost(a) > cost(b); });
    std::vector<std::vector<size_t>> dealt(jobs);
    std::vector<uint64_t> load(jobs, 0);
    for (size_t e : chosen) {
      size_t to = jobs;
      for (size_t j = 0; j < jobs; ++j)
        if (dealt[j].size() < per_boot && (to == jobs || load[j] < load[to])) to = j;
      dealt[to].push_back(e);
      load[to] += cost(e);
    }
    for (auto& share : dealt) {
      if (share.empty()) continue;
      Boot& b = round.emplace_back();
      uint64_t sleep_ms = 0, steps = 0;
      for (size_t entry : share) {
        Entry& e = entries[entry];
        b.entries.push_back(entry);
        b.cases.push_back(&*e.oc);
        sleep_ms += e.oc->sleep_ms;
        steps += e.oc->run.commands.size();
      }
      b.dir = work + "/boot-" + std::to_string(boots++);
      b.batch = translate_batch(b.cases, confirming ? 1 : o.lanes);
      const auto timeout = std::chrono::seconds(90 + sleep_ms / 1000 + steps / 2);
      // The guest, then its cases' comparisons as soon as it ends (two at a time across
      // guests: the model side and thin_dump are CPU work the guests' idle time can hide).
      b.compared = std::async(std::launch::async, [&, bp = &b, timeout] {
        Boot& bb = *bp;
        std::vector<bool> compared(bb.entries.size(), false);
        auto compare = [&](size_t k, const KernelCaseResult& kc, const std::string& problem) {
          Entry& e = entries[bb.entries[k]];
          const std::string case_dir = bb.dir + "/case-" + std::to_string(k);
          fs::create_directories(case_dir);
          struct Turn {  // released however the comparison ends
            std::counting_semaphore<>& s;
            explicit Turn(std::counting_semaphore<>& sem) : s(sem) { s.acquire(); }
            ~Turn() { s.release(); }
          } turn(comparing);
          ModelSide model(*e.oc);
          KernelImages images{bb.dir, &bb.batch.layout[k]};
          try {
            e.result = compare_case(*e.oc, k, kc, images, model, tools, case_dir);
          } catch (const std::exception& ex) {
            // The oracle's own failure on one case is that case's difference, with its
            // bundle, not the end of the campaign.
            e.result.emplace();
            e.result->difference = Difference{e.oc->run.commands.size(), e.oc->step_location(e.oc->run.commands.size()),
                                              "", "the comparison itself failed", ex.what(), ""};
          }
          if (!kc.ended) e.kernel_problem = problem;
          if (e.result->difference) write_bundle(e, case_dir, &kc, &model, k);
          compared[k] = true;
        };
        // Each case as soon as the guest ends it, while the others still run.
        bb.kr = vm.run(bb.batch, bb.cases, bb.dir, timeout,
                       [&](size_t k, const KernelCaseResult& kc) { compare(k, kc, ""); });
        for (size_t k = 0; k < bb.entries.size(); ++k) {
          const KernelCaseResult& kc = bb.kr.cases[k];
          if (!compared[k] && !kc.ended && !(k == bb.done && kc.begun)) break;  // not reached: run again
          ++bb.done;
          if (!compared[k]) compare(k, kc, bb.kr.problem);
        }
      });
    }
    // What this round's guests do not reach, and what did not fit in them, goes next.
    std::vector<size_t> again;
    const std::vector<size_t> later(pending.begin() + static_cast<long>(taken), pending.end());
    try {
      for (Boot& b : round) {
        b.compared.get();
        const KernelBatchResult& kr = b.kr;
        ready_total += kr.ready_seconds;
        guest_seconds += kr.seconds;
        const size_t done = b.done;
        for (size_t k = 0; k < done; ++k) {
          Entry& e = entries[b.entries[k]];
          const std::string case_dir = b.dir + "/case-" + std::to_string(k);
          if (e.result->difference && o.confirm && !confirming) {
            e.first_bundle = case_dir;
            to_confirm.push_back(b.entries[k]);
            continue;
          }
          ++compared;
          if (e.result->metadata_identical) ++identical;
          if (!e.result->difference) {
            ++same;
            if (confirming) {
              ++timing;
              std::printf("SAME %s on the second run (the first run's difference was a timing artefact; its bundle: %s)\n",
                          e.name.c_str(), e.first_bundle.c_str());
            }
            if (!e.result->metadata_identical) {
              // Same results, different bytes: worth a look, so it is said and kept.
              std::printf("SAME %s (%zu steps), but the metadata images differ after teardown: %s/kernel-*.img, model-*.img\n",
                          e.name.c_str(), e.result->steps_compared, case_dir.c_str());
              continue;
            }
            if (o.verbose) std::printf("SAME %s (%zu steps)\n", e.name.c_str(), e.result->steps_compared);
            if (!o.keep) fs::remove_all(case_dir);
            continue;
          }
          ++differ;
          const Difference& d = *e.result->difference;
          std::printf("DIFF %s\n  first difference at %s (step %zu): %s\n  command: %s\n  kernel: %s\n  model:  %s\n",
                      e.name.c_str(), d.where.c_str(), d.step + 1, d.what.c_str(), d.command.c_str(),
                      d.kernel.c_str(), d.model.c_str());
          if (!e.kernel_problem.empty()) std::printf("  kernel side: %s\n", e.kernel_problem.c_str());
          std::printf("  bundle: %s\n  replay: %s\n", case_dir.c_str(), e.replay.c_str());
          std::fflush(stdout);
        }
        if (done == 0) throw KernelUnavailable("the guest ran no case: " + kr.problem + " (console: " + kr.console_file + ")");
        again.insert(again.end(), b.entries.begin() + static_cast<long>(done), b.entries.end());
        if (!o.keep && done == b.entries.size() && kr.guest_exited)
          for (const char* img : {"disks.img", "in.img", "out.img", "initrd"}) fs::remove(b.dir + "/" + img);
      }
    } catch (const KernelUnavailable& e) {
      for (Boot& b : round)
        if (b.compared.valid()) b.compared.wait();
      std::fprintf(stderr, "thinsim oracle: could not run the kernel: %s\n", e.what());
      return kExitKernelUnavailable;
    }
    again.insert(again.end(), later.begin(), later.end());
    pending = std::move(again);
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const size_t skipped = entries.size() - compared;
  std::printf("oracle: %zu cases: %zu same (%zu only on a second run), %zu differ, %zu skipped; metadata byte-identical after teardown: "
              "%zu/%zu (%.0f%%); %.0f cases/min (%zu boots, %.1f s to reach the batch per boot, %.1f s in qemu, %.1f s total)\n",
              entries.size(), same, timing, differ, skipped, identical, compared,
              compared ? 100.0 * identical / compared : 0.0, total > 0 ? compared * 60.0 / total : 0.0, boots,
              boots ? ready_total / boots : 0.0, guest_seconds, total);
  return differ ? kExitMetadataBad : kExitOk;
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
