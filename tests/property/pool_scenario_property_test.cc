// Property test of the live pool against the reference model: random scenarios (dozens
// of devices, snapshots of anything, long snapshot chains, partial and whole-block
// writes, discards, flushes, FUA, commits through status and time, data resizes,
// metadata snapshots, running out of data space in both no-space modes) run through dm
// core with ModelCheck comparing every step. rapidcheck shrinks a failure to a short
// scenario, printed in the scenario language so it can be saved and replayed with
// `thinsim run --check-model`.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/model_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"

using namespace thinsim::harness;

namespace {

// One generated step; `text` is scenario-language source.
struct Step {
  std::string text;
};

constexpr unsigned kIds = 40;           // device ids 0..39
constexpr uint64_t kThinSectors = 4096;  // 32 blocks of 64 KiB per thin device

rc::Gen<std::string> gen_io(const char* verb, bool with_pattern) {
  return rc::gen::apply(
      [verb, with_pattern](unsigned id, unsigned first, unsigned len, unsigned seed, bool fua) {
        std::ostringstream s;
        uint64_t start = first % kThinSectors;
        uint64_t n = 1 + len % std::min<uint64_t>(kThinSectors - start, 320);
        s << verb << " t" << id << " " << start << "s " << n << "s";
        if (with_pattern) s << " seed:" << seed << (fua ? " fua" : "");
        return s.str();
      },
      rc::gen::inRange(0u, kIds), rc::gen::arbitrary<unsigned>(), rc::gen::arbitrary<unsigned>(),
      rc::gen::inRange(1u, 1000u), rc::gen::arbitrary<bool>());
}

rc::Gen<std::string> gen_step() {
  auto id = rc::gen::inRange(0u, kIds);
  return rc::gen::weightedOneOf<std::string>({
      {3, rc::gen::map(id, [](unsigned i) { return "message pool 0 \"create_thin " + std::to_string(i) + "\""; })},
      {3, rc::gen::apply([](unsigned a, unsigned b) {
             return "message pool 0 \"create_snap " + std::to_string(a) + " " + std::to_string(b) + "\"";
           }, id, id)},
      {1, rc::gen::map(id, [](unsigned i) { return "message pool 0 \"delete " + std::to_string(i) + "\""; })},
      {3, rc::gen::map(id, [](unsigned i) {
             return "create t" + std::to_string(i) + " \"0 " + std::to_string(kThinSectors) +
                    " thin pool " + std::to_string(i) + "\"";
           })},
      {1, rc::gen::map(id, [](unsigned i) { return "remove t" + std::to_string(i); })},
      {8, gen_io("write", true)},
      {4, gen_io("read", false)},
      {2, gen_io("discard", false)},
      {1, rc::gen::map(id, [](unsigned i) { return "flush t" + std::to_string(i); })},
      {1, rc::gen::just(std::string("status pool"))},
      {1, rc::gen::element<std::string>("sleep 1500ms", "sleep 61s")},
      {1, rc::gen::element<std::string>("message pool 0 \"reserve_metadata_snap\"",
                                        "message pool 0 \"release_metadata_snap\"")},
      {1, rc::gen::map(rc::gen::inRange(0u, 3u), [](unsigned t) {
             return "message pool 0 \"set_transaction_id " + std::to_string(t) + " " +
                    std::to_string(t + 1) + "\"";
           })},
      {1, rc::gen::map(rc::gen::inRange(1u, 4u), [](unsigned k) {
             // Grow (or try to shrink) the data device: a reload and a resume.
             return "reload pool \"0 " + std::to_string(k * 64 * 128) +
                    " thin-pool meta data 128 8\"\nresume pool";
           })},
  });
}

std::string build_scenario(const std::string& features, const std::vector<std::string>& steps) {
  std::string s = "disk meta 16M\ndisk data 32M\n";
  // 64 data blocks: small enough to run out of space.
  s += "create pool \"0 " + std::to_string(64 * 128) + " thin-pool meta data 128 8" + features + "\"\n";
  for (auto& st : steps) s += st + "\n";
  return s;
}

void check_scenario(const std::string& text) {
  Scenario sc = parse_scenario(text, "generated.scn");
  ScenarioRunner runner;
  runner.set_require_success(false);
  ModelCheck mc(60'000);
  runner.add_observer(mc);
  RunResult r = runner.run(sc);
  if (!r.passed()) {
    RC_LOG() << text << "\n" << to_string(r.failure->where) << ": " << r.failure->message << "\n";
    RC_FAIL("the pool and the reference model diverge");
  }
}

}  // namespace

RC_GTEST_PROP(PoolScenarioProperty, AgreesWithReferenceModel, ()) {
  auto features = *rc::gen::element<std::string>("", " 1 skip_block_zeroing", " 1 error_if_no_space",
                                                  " 1 no_discard_passdown", " 2 skip_block_zeroing error_if_no_space");
  auto steps = *rc::gen::resize(120, rc::gen::container<std::vector<std::string>>(gen_step()));
  check_scenario(build_scenario(features, steps));
}

// Snapshot chains more than 100 deep, with writes at random levels.
RC_GTEST_PROP(PoolScenarioProperty, DeepSnapshotChains, ()) {
  unsigned depth = *rc::gen::inRange(100u, 140u);
  std::vector<std::string> steps = {"message pool 0 \"create_thin 0\"",
                                    "create t0 \"0 4096 thin pool 0\"", "write t0 0 512K seed:1"};
  auto writes = *rc::gen::container<std::vector<std::pair<unsigned, unsigned>>>(
      depth / 4, rc::gen::pair(rc::gen::inRange(1u, depth + 1), rc::gen::inRange(0u, 4096u)));
  for (unsigned d = 1; d <= depth; ++d) {
    steps.push_back("message pool 0 \"create_snap " + std::to_string(d) + " " + std::to_string(d - 1) + "\"");
    for (auto [level, sector] : writes)
      if (level == d) {
        steps.push_back("create t" + std::to_string(d) + " \"0 4096 thin pool " + std::to_string(d) + "\"");
        steps.push_back("write t" + std::to_string(d) + " " + std::to_string(sector) + "s 8s seed:" +
                        std::to_string(d));
        steps.push_back("remove t" + std::to_string(d));
      }
  }
  steps.push_back("create t" + std::to_string(depth) + " \"0 4096 thin pool " + std::to_string(depth) + "\"");
  steps.push_back("read t" + std::to_string(depth) + " 0 2M");
  steps.push_back("status pool");
  check_scenario(build_scenario("", steps));
}
