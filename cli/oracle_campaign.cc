#include "cli/oracle_campaign.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>

#include "harness/scenario_ast.h"
#include "peer/external_command.h"
#include "sim/kernel/guest_script.h"
#include "sim/kernel/model_side.h"

namespace thinsim::cli {

namespace fs = std::filesystem;
using namespace thinsim::kernel;

namespace {

// Writes a failure bundle: the scenario, both sides' outcomes, the images (already in
// case_dir) and a replay command.
void write_bundle(const OracleEntry& e, const std::string& case_dir, const KernelCaseResult* kr,
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
  std::ofstream(case_dir + "/replay.txt") << "thinsim oracle " << peer::shell_quote(case_dir + "/scenario.scn") << "\n";
}

}  // namespace

// One guest of a round: its cases, its script, what it printed, and its comparisons.
struct OracleCampaign::Boot {
  std::vector<size_t> entries;
  std::vector<const OracleCase*> cases;
  GuestBatch batch;
  std::string dir;
  KernelBatchResult kr;
  size_t done = 0;  // cases the guest reached, compared into their entry
  std::future<void> compared;
};

OracleCampaign::OracleCampaign(const OracleOptions& options, std::vector<OracleEntry>& entries, std::string work,
                               const peer::PeerTools& tools, const KernelVm& vm)
    : o_(options), entries_(entries), work_(std::move(work)), tools_(tools), vm_(vm) {}

uint64_t OracleCampaign::cost(size_t entry) const {
  const OracleCase& oc = *entries_[entry].oc;
  return oc.sleep_ms + 40 * oc.run.commands.size() + 1000 * oc.crashes.size();  // ms, roughly
}

// The round's cases, longest first, each to the guest with the least work so far: each
// guest's lanes claim them in that order, so a long case does not start last and keep its
// guest up alone (the same cases always go the same way).
std::vector<std::vector<size_t>> OracleCampaign::deal(std::vector<size_t> chosen, size_t jobs, size_t per_boot) const {
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
  return dealt;
}

void OracleCampaign::compare(Boot& b, size_t k, const KernelCaseResult& kc, const std::string& problem) {
  OracleEntry& e = entries_[b.entries[k]];
  const std::string case_dir = b.dir + "/case-" + std::to_string(k);
  fs::create_directories(case_dir);
  struct Turn {  // released however the comparison ends
    std::counting_semaphore<>& s;
    explicit Turn(std::counting_semaphore<>& sem) : s(sem) { s.acquire(); }
    ~Turn() { s.release(); }
  } turn(comparing_);
  ModelSide model(*e.oc);
  KernelImages images{b.dir, &b.batch.layout[k]};
  try {
    e.result = compare_case(*e.oc, k, kc, images, model, tools_, case_dir);
  } catch (const std::exception& ex) {
    // The oracle's own failure on one case is that case's difference, with its bundle,
    // not the end of the campaign.
    e.result.emplace();
    e.result->difference = Difference{e.oc->run.commands.size(), e.oc->step_location(e.oc->run.commands.size()), "",
                                      "the comparison itself failed", ex.what(), ""};
  }
  if (!kc.ended) e.kernel_problem = problem;
  // A difference, or the same results over different metadata bytes: worth a look either way.
  if (e.result->difference || !e.result->metadata_identical) write_bundle(e, case_dir, &kc, &model, k);
}

// The guest, then its cases' comparisons: each as soon as the guest ends it, while the
// others still run, and after the guest those it reached without ending.
void OracleCampaign::start(Boot& b, bool confirming) {
  b.batch = translate_batch(b.cases, confirming ? 1 : o_.lanes);
  uint64_t sleep_ms = 0, steps = 0;
  for (const OracleCase* oc : b.cases) {
    sleep_ms += oc->sleep_ms;
    steps += oc->run.commands.size();
  }
  const auto timeout = std::chrono::seconds(90 + sleep_ms / 1000 + steps / 2);
  b.compared = std::async(std::launch::async, [this, &b, timeout] {
    std::vector<bool> compared(b.entries.size(), false);
    b.kr = vm_.run(b.batch, b.cases, b.dir, timeout, [&](size_t k, const KernelCaseResult& kc) {
      compare(b, k, kc, "");
      compared[k] = true;
    });
    for (size_t k = 0; k < b.entries.size(); ++k) {
      const KernelCaseResult& kc = b.kr.cases[k];
      if (!compared[k] && !kc.ended && !(k == b.done && kc.begun)) break;  // not reached: run again
      ++b.done;
      if (!compared[k]) compare(b, k, kc, b.kr.problem);
    }
  });
}

// Each case the guest reached: set aside to run again, or counted and printed.
void OracleCampaign::report(const Boot& b, bool confirming, std::vector<size_t>& to_confirm) {
  for (size_t k = 0; k < b.done; ++k) {
    OracleEntry& e = entries_[b.entries[k]];
    const std::string case_dir = b.dir + "/case-" + std::to_string(k);
    if (e.result->difference && o_.confirm && !confirming) {
      e.first_bundle = case_dir;
      to_confirm.push_back(b.entries[k]);
      continue;
    }
    ++tally_.compared;
    if (e.result->metadata_identical) ++tally_.identical;
    if (!e.result->difference) {
      ++tally_.same;
      if (confirming) {
        ++tally_.timing;
        std::printf("SAME %s on the second run (the first run's difference was a timing artefact; its bundle: %s)\n",
                    e.name.c_str(), e.first_bundle.c_str());
      }
      if (!e.result->metadata_identical) {
        // Same results, different bytes: worth a look, so it is said and kept.
        std::printf("SAME %s (%zu steps), but the metadata images differ after teardown: %s/kernel-*.img, model-*.img\n",
                    e.name.c_str(), e.result->steps_compared, case_dir.c_str());
        continue;
      }
      if (o_.verbose) std::printf("SAME %s (%zu steps)\n", e.name.c_str(), e.result->steps_compared);
      if (!o_.keep) fs::remove_all(case_dir);
      continue;
    }
    ++tally_.differ;
    const Difference& d = *e.result->difference;
    std::printf("DIFF %s\n  first difference at %s (step %zu): %s\n  command: %s\n  kernel: %s\n  model:  %s\n",
                e.name.c_str(), d.where.c_str(), d.step + 1, d.what.c_str(), d.command.c_str(), d.kernel.c_str(),
                d.model.c_str());
    if (!e.kernel_problem.empty()) std::printf("  kernel side: %s\n", e.kernel_problem.c_str());
    std::printf("  bundle: %s\n  replay: %s\n", case_dir.c_str(), e.replay.c_str());
    std::fflush(stdout);
  }
}

void OracleCampaign::run() {
  std::vector<size_t> pending;
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].oc) pending.push_back(i);
  bool confirming = false;
  std::vector<size_t> to_confirm;
  while (!pending.empty() || (!confirming && !to_confirm.empty())) {
    if (pending.empty()) {
      // The differing cases once more, in a batch of their own with one guest at a time.
      confirming = true;
      pending = std::move(to_confirm);
      to_confirm.clear();
      std::printf("oracle: running the %zu differing cases again, one guest at a time\n", pending.size());
      std::fflush(stdout);
      continue;
    }
    // Up to `jobs` guests at once, the pending cases shared out between them.
    std::vector<Boot> round;
    round.reserve(o_.jobs + 1);  // the guests' threads refer to their Boot: it must not move
    const size_t jobs = confirming ? 1 : std::max<size_t>(1, std::min(o_.jobs, pending.size()));
    const size_t per_boot = std::min(o_.batch, (pending.size() + jobs - 1) / jobs);
    const size_t taken = std::min(pending.size(), jobs * per_boot);
    for (auto& share : deal({pending.begin(), pending.begin() + static_cast<long>(taken)}, jobs, per_boot)) {
      if (share.empty()) continue;
      Boot& b = round.emplace_back();
      b.entries = share;
      for (size_t entry : share) b.cases.push_back(&*entries_[entry].oc);
      b.dir = work_ + "/boot-" + std::to_string(tally_.boots++);
      start(b, confirming);
    }
    // What this round's guests do not reach, and what did not fit in them, goes next.
    std::vector<size_t> again;
    try {
      for (Boot& b : round) {
        b.compared.get();
        tally_.ready_seconds += b.kr.ready_seconds;
        tally_.guest_seconds += b.kr.seconds;
        report(b, confirming, to_confirm);
        if (b.done == 0)
          throw KernelUnavailable("the guest ran no case: " + b.kr.problem + " (console: " + b.kr.console_file + ")");
        again.insert(again.end(), b.entries.begin() + static_cast<long>(b.done), b.entries.end());
        if (!o_.keep && b.done == b.entries.size() && b.kr.guest_exited)
          for (const char* img : {"disks.img", "in.img", "out.img", "initrd"}) fs::remove(b.dir + "/" + img);
      }
    } catch (...) {
      for (Boot& b : round)
        if (b.compared.valid()) b.compared.wait();
      throw;
    }
    again.insert(again.end(), pending.begin() + static_cast<long>(taken), pending.end());
    pending = std::move(again);
  }
}

}  // namespace thinsim::cli
