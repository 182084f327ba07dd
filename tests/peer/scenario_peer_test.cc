// The live pool's metadata judged by the real thin-provisioning-tools at every commit:
// every bundled scenario runs with the reference model and the peer check (thin_check
// passes, thin_dump is byte-identical to thinsim dump and agrees with the reference).
// Also: the peer check notices a commit that thin_check rejects, and the dump comparison
// notices dumps that disagree with the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <stdlib.h>

#include "harness/dump_comparison.h"
#include "harness/model_check.h"
#include "harness/peer_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "model/ref/ref_pool.h"
#include "peer/peer_tools.h"
#include "tests/support/bundled_scenarios.h"

namespace thinsim::harness {
namespace {

std::string scratch_dir() {
  std::string t = std::filesystem::temp_directory_path().string() + "/scenario-peer-XXXXXX";
  if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
  return t;
}

using test_support::failure_of;

struct PeerRun {
  RunResult result;
  uint64_t commits = 0, comparisons = 0;
};

// Runs a scenario with the reference model and the peer check; `vandal`, when given,
// taps the disks before the peer check does.
PeerRun run_with_peers(const Scenario& s, DiskTap* vandal = nullptr) {
  peer::PeerTools tools = peer::locate_peer_tools();  // throws with the install hint
  const std::string dir = scratch_dir();
  ScenarioRunner runner;
  ModelCheck model(60'000);
  runner.add_observer(model);
  if (vandal) runner.dm().add_disk_tap(*vandal);
  PeerCheck peers(runner.dm(), tools, dir, [&](const std::string& md) { return model.reference(md); });
  runner.add_observer(peers);
  PeerRun out;
  out.result = runner.run(s);
  out.commits = peers.commits_checked();
  out.comparisons = peers.model_comparisons();
  if (vandal) runner.dm().remove_disk_tap(*vandal);
  if (out.result.passed()) std::filesystem::remove_all(dir);
  return out;
}

class BundledScenarioPeers : public ::testing::TestWithParam<std::string> {};

TEST_P(BundledScenarioPeers, EveryCommitPassesThinCheckAndThinDump) {
  PeerRun r = run_with_peers(parse_scenario_file(GetParam()));
  EXPECT_TRUE(r.result.passed()) << failure_of(r.result);
  EXPECT_GT(r.commits, 0u) << "no commit was seen";
}


INSTANTIATE_TEST_SUITE_P(Scenarios, BundledScenarioPeers, ::testing::ValuesIn(test_support::bundled_scenarios(THINSIM_SCENARIO_DIR)),
                         test_support::scenario_test_name);

constexpr const char* kSnapshots = R"(
disk meta 8M
disk data 256M
create pool "0 524288 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create v0 "0 524288 thin pool 0"
write v0 0 256K seed:1
flush v0
suspend v0
message pool 0 "create_snap 1 0"
resume v0
message pool 0 "reserve_metadata_snap"
create v1 "0 524288 thin pool 1"
write v1 64K 64K seed:2
flush v1
message pool 0 "release_metadata_snap"
discard v0 0 64K
flush v0
)";

TEST(ScenarioPeers, CommitsAreSeenAndComparedWithTheModel) {
  PeerRun r = run_with_peers(parse_scenario(kSnapshots, "snapshots.scn"));
  ASSERT_TRUE(r.result.passed()) << failure_of(r.result);
  EXPECT_GE(r.commits, 6u);
  EXPECT_GE(r.comparisons, 6u);
}

// Flips a byte of the last non-superblock page written before each commit's superblock:
// damage thin_check must see.
class MetadataVandal final : public DiskTap {
 public:
  explicit MetadataVandal(DmCore& dm) : dm_(dm) {}
  void written(const std::string& disk, uint64_t sector, uint64_t, bool) override {
    if (disk != "meta") return;
    if (sector >= 8) last_ = sector;
    else if (last_ && ++commits_ == 3) {  // leave the format and two commits alone
      std::vector<std::byte> page(4096);
      auto& d = static_cast<TappedDisk&>(*dm_.disk(disk)).inner();
      d.read(*last_ / 8 * 8, page);
      page[100] ^= std::byte{0x5a};
      d.write(*last_ / 8 * 8, page);
    }
  }
  void flushed(const std::string&) override {}

 private:
  DmCore& dm_;
  std::optional<uint64_t> last_;
  int commits_ = 0;
};

TEST(ScenarioPeers, ACorruptCommitIsReported) {
  // Writing behind the pool's back is exactly what the check must catch.
  peer::PeerTools tools = peer::locate_peer_tools();
  const std::string dir = scratch_dir();
  ScenarioRunner runner;
  MetadataVandal vandal(runner.dm());
  runner.dm().add_disk_tap(vandal);
  PeerCheck peers(runner.dm(), tools, dir);
  runner.add_observer(peers);
  RunResult r = runner.run(parse_scenario(kSnapshots, "snapshots.scn"));
  runner.dm().remove_disk_tap(vandal);
  ASSERT_FALSE(r.passed());
  EXPECT_NE(r.failure->message.find("thin_check rejects the metadata"), std::string::npos)
      << r.failure->message;
  EXPECT_NE(r.failure->message.find("commit"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// ---- The dump comparison alone, on hand-written dumps.

std::string dump_xml(const std::string& devices, uint64_t transaction = 0, uint64_t time = 0) {
  return "<superblock uuid=\"\" time=\"" + std::to_string(time) + "\" transaction=\"" +
         std::to_string(transaction) +
         "\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"100\">\n" + devices +
         "</superblock>\n";
}

ref::RefPool two_devices_sharing() {
  ref::PoolParams p;
  p.data_blocks = 100;
  ref::RefPool r(p);
  EXPECT_EQ(r.create_thin(0), 0);
  std::vector<std::byte> block(64 * 1024, std::byte{7});
  r.write(0, 0, block);
  EXPECT_EQ(r.create_snap(1, 0), 0);  // commits: device 0 and 1 share one block
  return r;
}

TEST(DumpComparison, AgreesWithTheReferencesCommit) {
  ref::RefPool r = two_devices_sharing();
  const std::string devs =
      "  <device dev_id=\"0\" mapped_blocks=\"1\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">\n"
      "    <single_mapping origin_block=\"0\" data_block=\"0\" time=\"0\"/>\n  </device>\n"
      "  <device dev_id=\"1\" mapped_blocks=\"1\" transaction=\"0\" creation_time=\"1\" snap_time=\"1\">\n"
      "    <single_mapping origin_block=\"0\" data_block=\"0\" time=\"0\"/>\n  </device>\n";
  EXPECT_EQ(compare_dump_with_reference(dump_xml(devs, 0, 1), r), std::nullopt);
}

TEST(DumpComparison, NamesTheFirstDifference) {
  ref::RefPool r = two_devices_sharing();
  auto dev = [](int id, uint64_t data, uint64_t snap_time = 1, uint64_t origin = 0) {
    return "  <device dev_id=\"" + std::to_string(id) + "\" mapped_blocks=\"1\" transaction=\"0\" " +
           "creation_time=\"0\" snap_time=\"" + std::to_string(snap_time) + "\">\n" +
           "    <single_mapping origin_block=\"" + std::to_string(origin) + "\" data_block=\"" +
           std::to_string(data) + "\" time=\"0\"/>\n  </device>\n";
  };
  auto diff = [&](const std::string& xml) {
    return compare_dump_with_reference(xml, r).value_or("(agrees)");
  };
  EXPECT_NE(diff(dump_xml(dev(0, 0) + dev(1, 5), 0, 1)).find("sharing differs"), std::string::npos);
  EXPECT_NE(diff(dump_xml(dev(0, 0), 0, 1)).find("device 1 is in the reference"), std::string::npos);
  EXPECT_NE(diff(dump_xml(dev(0, 0) + dev(1, 0) + dev(2, 3), 0, 1)).find("device 2 is in the dump"),
            std::string::npos);
  EXPECT_NE(diff(dump_xml(dev(0, 0) + dev(1, 0), 4, 1)).find("transaction id"), std::string::npos);
  EXPECT_NE(diff(dump_xml(dev(0, 0) + dev(1, 0, 0), 0, 1)).find("snap_time"), std::string::npos);
  EXPECT_NE(diff(dump_xml(dev(0, 0) + dev(1, 0, 1, 3), 0, 1)).find("virtual block 0 is mapped only"),
            std::string::npos);
}

}  // namespace
}  // namespace thinsim::harness
