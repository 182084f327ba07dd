// Random pool scenarios (pool_scenario_gen.h) with the reference model and the peer tools
// together: every metadata commit goes through the real thin_check and thin_dump, the
// dump must equal thinsim's and agree with what the reference model committed. Fewer
// cases than the model-only property (each commit runs two programs); label peer.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness/model_check.h"
#include "harness/peer_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "peer/peer_tools.h"
#include "tests/property/pool_scenario_gen.h"

using namespace thinsim::harness;
using namespace thinsim::harness::generated;

namespace {

void check_with_peers(const std::string& text) {
  static const thinsim::peer::PeerTools tools = thinsim::peer::locate_peer_tools();
  std::string dir = std::filesystem::temp_directory_path().string() + "/peer-property-XXXXXX";
  RC_ASSERT(::mkdtemp(dir.data()) != nullptr);
  Scenario sc = parse_scenario(text, "generated.scn");
  ScenarioRunner runner;
  runner.set_require_success(false);
  ModelCheck mc(60'000);
  runner.add_observer(mc);
  PeerCheck peers(runner.dm(), tools, dir, [&](const std::string& md) { return mc.reference(md); });
  runner.add_observer(peers);
  RunResult r = runner.run(sc);
  if (!r.passed()) {
    RC_LOG() << text << "\n" << to_string(r.failure->where) << ": " << r.failure->message
             << "\n(images kept in " << dir << ")\n";
    RC_FAIL("the metadata, the peer tools and the reference model disagree");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

RC_GTEST_PROP(PoolScenarioPeerProperty, EveryCommitPassesThePeersAndMatchesTheModel, ()) {
  auto features = *gen_features();
  const bool faults = *gen_with_faults();
  auto steps = *rc::gen::resize(80, rc::gen::container<std::vector<std::string>>(gen_step(faults)));
  check_with_peers(build_scenario(features, steps));
}
