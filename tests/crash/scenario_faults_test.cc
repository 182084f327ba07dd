// Fault directives through the scenario runner: media faults and scripted power cuts on
// the simulated disks a run gives itself, and what the reference-model check makes of them.
#include <gtest/gtest.h>

#include <algorithm>

#include "harness/model_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"
#include "model/pool/pool.h"

namespace thinsim::harness {
namespace {

constexpr const char* kPool =
    "disk meta 16M\n"
    "disk data 2G\n"
    "create pool \"0 1048576 thin-pool meta data 128 0\"\n"
    "message pool 0 \"create_thin 0\"\n"
    "create thin \"0 2097152 thin pool 0\"\n"
    "write thin 0 128K seed:1\n"
    "flush thin\n";

RunResult run(ScenarioRunner& r, const std::string& text) { return r.run(parse_scenario(text, "t.scn")); }

TEST(ScenarioFaults, APowerCutTearsDownWithoutAnyIo) {
  ScenarioRunner r;
  // The crash in the text makes the run give its disks a simulated cache.
  ASSERT_TRUE(run(r, std::string(kPool) + "write thin 1M 64K seed:2\ncrash\n").passed());
  EXPECT_TRUE(r.dm().mapped_devices().empty());
  DmResult why;
  sim::SimDisk* meta = r.dm().sim_disk("meta", why);
  ASSERT_TRUE(meta) << why.text;
  EXPECT_TRUE(meta->pending().empty());  // the cache went with the power
  // Nothing the dying pool tried reached the disk: the pool opens at the flush's commit.
  RunResult after = run(r,
                        "create pool \"0 1048576 thin-pool meta data 128 0\"\n"
                        "status pool expect transaction_id=0 used_data=2 mode=rw needs_check=-\n");
  EXPECT_TRUE(after.passed()) << after.failure->message;
}

TEST(ScenarioFaults, SeededPowerCutsRepeat) {
  auto survivors = [](uint64_t seed) {
    ScenarioRunner r;
    std::string text = std::string(kPool);
    for (int i = 0; i < 8; ++i) text += "write thin " + std::to_string(i * 64) + "K 64K seed:" + std::to_string(i + 10) + "\n";
    text += "crash keep=seed:" + std::to_string(seed) + "\n";
    EXPECT_TRUE(run(r, text).passed());
    DmResult why;
    return r.dm().sim_disk("data", why)->durable_hash();
  };
  EXPECT_EQ(survivors(5), survivors(5));
  EXPECT_NE(survivors(5), survivors(6));
}

TEST(ScenarioFaults, MediaFaultNeedsADiskAndStaysInsideIt) {
  ScenarioRunner r;
  RunResult res = run(r, std::string(kPool) +
                             "fault nope bit-flip 0 1 expect error ENODEV\n"
                             "fault thin latent-error 0 expect error EINVAL \"mapped device\"\n"
                             "fault meta latent-error 16M expect error EINVAL \"has 32768 sectors\"\n"
                             "fault data latent-error 0 64K\n"
                             "read thin 0 64K expect error EIO\n"
                             "fault data clear\n"
                             "read thin 0 64K expect seed:1\n");
  EXPECT_TRUE(res.passed()) << res.failure->message;
}

TEST(ScenarioFaults, ModelCheckStopsFollowingAndSaysWhere) {
  ScenarioRunner r;
  ModelCheck model(pool::kDefaultNoSpaceTimeoutMs);
  r.add_observer(model);
  RunResult res = run(r, std::string(kPool) +
                             "fault data misdirected-writes 1 64K\n"
                             "write thin 0 64K seed:3\n"
                             "read thin 0 64K expect seed:1\n");
  ASSERT_TRUE(res.passed()) << res.failure->message;
  ASSERT_TRUE(model.stopped_at());
  EXPECT_EQ(model.stopped_at()->line, 8u);
  EXPECT_TRUE(std::any_of(res.trace.begin(), res.trace.end(), [](const std::string& l) {
    return l.find("note: check-model stops following the run at t.scn:8:1") != std::string::npos;
  }));
}

}  // namespace
}  // namespace thinsim::harness
