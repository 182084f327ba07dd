// The kernel oracle without a VM: preparing cases, translating them into the guest's
// script, parsing its console and reading its error texts (label: unit).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "harness/scenario_parser.h"
#include "peer/external_command.h"
#include "sim/kernel/model_side.h"
#include "sim/kernel/guest_script.h"
#include "sim/kernel/kernel_vm.h"
#include "sim/kernel/oracle_case.h"
#include "sim/kernel/oracle_comparison.h"
#include "sim/kernel/random_scenario.h"

namespace thinsim::kernel {
namespace {

OracleCase prepare(const std::string& text) {
  return prepare_case(harness::parse_scenario(text, "t.scn"), "t.scn", text);
}

const char* kSmall = R"(disk meta 4M
disk data 8M
create pool "0 16384 thin-pool meta data 128 0"
message pool 0 "create_thin 0"
create thin "0 4096 thin pool 0"
write thin 64K 4K seed:3 expect ok
read thin 0 8K expect zero
status pool expect used_data=1
)";

TEST(OracleCase, StripsExpectationsAndAppendsReadsAndTeardown) {
  OracleCase oc = prepare(kSmall);
  ASSERT_EQ(oc.scenario_steps, 8u);
  for (auto& c : oc.run.commands) EXPECT_FALSE(c.expect) << harness::to_text(c);
  // One read of the touched MiB of `thin`, then the devices newest first.
  ASSERT_EQ(oc.run.commands.size(), 8u + 1 + 2);
  EXPECT_EQ(harness::to_text(oc.run.commands[8]), "read thin 0s 2048s");
  EXPECT_EQ(harness::to_text(oc.run.commands[9]), "remove thin");
  EXPECT_EQ(harness::to_text(oc.run.commands[10]), "remove pool");
  EXPECT_EQ(oc.pools, std::vector<std::string>{"pool"});
  ASSERT_EQ(oc.pool_disks.size(), 1u);
  EXPECT_EQ(oc.pool_disks[0].metadata, "meta");
  EXPECT_EQ(oc.pool_disks[0].data, "data");
  // A commit after the IO, and just before it.
  EXPECT_TRUE(oc.commit_after[4]);
  EXPECT_TRUE(oc.commit_after[5]);
  EXPECT_FALSE(oc.commit_after[6]);
  EXPECT_EQ(oc.step_location(5), "t.scn:6:1");
}

TEST(OracleCase, CutsWritesAtBlockBoundariesAndLetsTheTimerExpireBeforeDiscards) {
  OracleCase oc = prepare(std::string(kSmall) + "write thin 100s 300s seed:4 fua\ndiscard thin 0 64K\n");
  // 100s..400s in 128-sector blocks: 100-128, 128-256, 256-384, 384-400.
  ASSERT_EQ(oc.scenario_steps, 8u + 4 + 2);
  EXPECT_EQ(harness::to_text(oc.run.commands[8]), "write thin 100s 28s seed:4");
  EXPECT_EQ(harness::to_text(oc.run.commands[9]), "write thin 128s 128s seed:4");
  EXPECT_EQ(harness::to_text(oc.run.commands[11]), "write thin 384s 16s seed:4 fua");
  for (size_t i = 8; i < 12; ++i) {
    EXPECT_TRUE(oc.commit_after[i]);
    EXPECT_EQ(oc.step_location(i), "t.scn:9:1");
  }
  // The discard is preceded by the oracle's sleep, with a commit between the two.
  EXPECT_EQ(harness::to_text(oc.run.commands[12]), "sleep 1001ms");
  EXPECT_TRUE(oc.timer_expiry[12]);
  EXPECT_TRUE(oc.commit_after[12]);
  EXPECT_EQ(oc.step_location(12), "t.scn:10:1");
  EXPECT_FALSE(oc.timer_expiry[13]);
  EXPECT_EQ(oc.timer_expiry.size(), oc.run.commands.size());
}

TEST(OracleCase, RefusesWhatTheGuestCannotDo) {
  // A served disk is not journaled, so its faults cannot meet a crash.
  EXPECT_THROW(prepare("disk meta 4M\nfault meta latent-error 0 4K\ncrash\n"), Untranslatable);
  EXPECT_THROW(prepare("disk meta 4M\nfault meta lost-writes 1\nfault meta clear\ncrash\n"), Untranslatable);
  EXPECT_THROW(prepare("disk meta 4M\nfault other ignore-flush\n"), Untranslatable);
  EXPECT_NO_THROW(prepare("disk meta 4M\nfault meta bit-flip 0 8\nfault meta ignore-flush\nfault meta clear\n"));
  // A log-writes target cannot change size without starting its log again.
  EXPECT_THROW(prepare("disk meta 4M\nresize meta 8M\ncrash\n"), Untranslatable);
  EXPECT_THROW(prepare("disk meta 4M\ncheck other\n"), Untranslatable);
  EXPECT_THROW(prepare("disk meta 4M\nstatus meta\n"), Untranslatable);
}

// random:6:147 and others: the guest's FUA write is followed by a flush of the device,
// which a read-only pool fails when the thin's block 0 is unmapped; the model's side of
// the oracle does the same flush after a FUA write.
TEST(ModelSide, AFuaWriteFailsWhenTheFlushAfterItDoes) {
  const OracleCase oc = prepare(std::string(kSmall) + "fault meta error write\nmessage pool 0 \"create_thin 1\"\n" +
                                "write thin 64K 4K seed:5 fua\nwrite thin 68K 4K seed:5\nwrite thin 72K 4K seed:5 fua\n");
  ModelSide model(oc);
  std::vector<std::string> outcomes;
  for (size_t i = 0; i < oc.run.commands.size(); ++i)
    if (oc.run.commands[i].kind() == harness::CommandKind::write && i >= 8)
      outcomes.push_back(harness::to_text(oc.run.commands[i]) + ": " + model.steps()[i].outcome);
  EXPECT_EQ(outcomes, (std::vector<std::string>{"write thin 128s 8s seed:5 fua: error EIO",
                                                "write thin 136s 8s seed:5: ok",
                                                "write thin 144s 8s seed:5 fua: error EIO"}));
  // With block 0 mapped the flush goes through.
  const OracleCase mapped = prepare(std::string(kSmall) + "write thin 0 4K seed:1\nfault meta error write\n" +
                                    "message pool 0 \"create_thin 1\"\nwrite thin 64K 4K seed:5 fua\n");
  ModelSide m2(mapped);
  EXPECT_EQ(m2.steps()[11].outcome, "ok") << harness::to_text(mapped.run.commands[11]);
}

TEST(GuestScript, TranslatesCommandsToDmctlCalls) {
  OracleCase oc = prepare(std::string(kSmall) + "discard thin 0 64K\nflush thin\nsleep 1500ms\n");
  GuestBatch b = translate_batch({&oc});
  const std::string& s = b.script;
  // Each case starts its clock, and the file an IO in a group moves its origin through.
  EXPECT_NE(s.find("setnow T0\nL0=$T0\necho $T0 >/tmp/anchor.0\n"), std::string::npos) << s;
  // The steps up to a sleep run in one dmctl process, each reported as it would be alone.
  EXPECT_NE(s.find("dmctl steps run 0.0 create s0-meta --table '0 8192 linear /dev/vda 0' :: run 0.1 create s0-data "),
            std::string::npos);
  EXPECT_NE(s.find(":: run 0.2 create s0-pool --table '0 16384 thin-pool /dev/mapper/s0-meta /dev/mapper/s0-data 128 0' :: "
                   "run 0.3 message s0-pool 0 'create_thin 0' :: run 0.4 create s0-thin --table '0 4096 thin "
                   "/dev/mapper/s0-pool 0' :: commit 0.4 pool s0-pool :: "),
            std::string::npos);
  // IO: the device and its length (as `size` last read it) checked first, the write's
  // start anchoring the clock, then dmctl io with the step's forced commits.
  EXPECT_NE(s.find(":: io 0.5 $M/s0-thin /tmp/dmsize/s0-thin 136 /tmp/anchor.0:0 0_5 150 write /dev/vdb 0 "
                   "$M/s0-thin 65536 4096 commit pool s0-pool :: io 0.6 $M/s0-thin /tmp/dmsize/s0-thin 16 - 0_6 150 "
                   "read $M/s0-thin 0 /dev/vdc 0 8192 :: line 0.7 status s0-pool\n"),
            std::string::npos);
  // What the script notes after the steps (sizes, clock origin, the time of a possible
  // commit) follows the group, before the sleep that reads it.
  EXPECT_NE(s.find(":: line 0.7 status s0-pool\nsize Z0_0 s0-pool\nsize Z0_1 s0-thin\nread -r T0 </tmp/anchor.0\n"
                   "setnow L0\nsleep_until $((L0 + 1100)); echo \"ORACLE-S 0.8 ok\"\n"),
            std::string::npos);
  EXPECT_NE(s.find("\ndmctl steps commit 0.8 pool s0-pool :: io 0.9 $M/s0-thin /tmp/dmsize/s0-thin 128 "
                   "/tmp/anchor.0:1001 0_9 150 discard $M/s0-thin 0 65536 commit pool s0-pool :: io 0.10 $M/s0-thin - 0 "
                   "/tmp/anchor.0:1001 0_10 150 flush $M/s0-thin commit pool s0-pool\nread -r T0 </tmp/anchor.0\n"),
            std::string::npos);
  // The discard waits for the worker's commit timer; the scenario's sleep counts it too.
  EXPECT_NE(s.find("sleep_until $((T0 + 2501))"), std::string::npos);
  EXPECT_NE(s.find(":: run 0.13 remove s0-thin :: run 0.14 remove s0-pool\nsize Z0_1 s0-thin\nsize Z0_0 s0-pool\n"),
            std::string::npos);
  // meta at 0, data on the next MiB boundary past its end.
  EXPECT_EQ(b.layout[0].disk_offset.at("meta"), 0u);
  EXPECT_EQ(b.layout[0].disk_offset.at("data"), 5u << 20);
  EXPECT_EQ(b.layout[0].in_offset[5], 0u);
}

// A step alone between two that end groups runs as the script's shell helper runs it, as
// does any that is not one dmctl command, and any in a crash's window (it starts at W).
TEST(GuestScript, StepsOutsideAGroupRunInTheShellHelpers) {
  OracleCase oc = prepare(std::string(kSmall) + "sleep 2s\nstatus pool\nsleep 2s\nwrite thin 0 4K seed:1\nsleep 2s\n" +
                          "write thin 0 4K seed:1\ncrash\n");
  const std::string s = translate_batch({&oc}).script;
  EXPECT_NE(s.find("\nline 0.9 dmctl status s0-pool\n"), std::string::npos) << s;
  EXPECT_NE(s.find("\ncommit 0.12 pool s0-pool\nsetnow L0\nsleep_until $((L0 + 1100))"), std::string::npos);
  // A table step's device list is an item of its group, alone the shell pipeline.
  OracleCase t = prepare(std::string(kSmall) + "table pool\nsleep 2s\ntable pool\nsleep 2s\n");
  const std::string ts = translate_batch({&t}).script;
  EXPECT_NE(ts.find(":: line 0.8 table s0-pool :: list 0.8\n"), std::string::npos) << ts;
  EXPECT_NE(ts.find("\ndmctl steps line 0.10 table s0-pool :: list 0.10\n"), std::string::npos);
  EXPECT_NE(s.find("\nsetnow W0\nif nodev 0.14 $M/s0-thin || beyond 0.14 Z0_1 8; then :; else anchor T0 7001; dmctl io "
                   "0.14 0_14 150 write /dev/vdb 2097152 $M/s0-thin 0 4096; fi\n"),
            std::string::npos);
}

// The IO just before a crash runs without forced commits (the crash has something to cut):
// the worker's timer expires first on both sides, and the first write to a fresh block is
// flushed; the guest checks that the rest came soon enough.
TEST(OracleCase, TheIOACrashCutsShortStartsAfterTheTimerAndAFlushedFreshWrite) {
  OracleCase oc = prepare(std::string(kSmall) + "write thin 0 4K seed:1\nwrite thin 8K 4K seed:2\ncrash keep=seed:3\n");
  ASSERT_TRUE(oc.journaled());
  ASSERT_EQ(oc.crashes.size(), 1u);
  const size_t crash = 12;
  ASSERT_EQ(harness::to_text(oc.run.commands[crash]), "crash keep=seed:3");
  EXPECT_TRUE(oc.commit_after[7]);  // the status ends the run of IO: a forced commit before it
  EXPECT_TRUE(oc.timer_expiry[8]);
  EXPECT_EQ(harness::to_text(oc.run.commands[8]), "sleep 1001ms");
  EXPECT_TRUE(oc.crash_window[9]);
  EXPECT_EQ(harness::to_text(oc.run.commands[10]), "flush thin");  // 0-4K: block 0, fresh
  for (size_t i : {9, 10, 11}) EXPECT_FALSE(oc.commit_after[i]) << i;
  EXPECT_FALSE(oc.crash_window[crash]);
  // A write to a block written before is no reset: the fresh one after it is flushed.
  OracleCase again = prepare(std::string(kSmall) + "write thin 64K 4K seed:1\nwrite thin 128K 4K seed:2\ncrash\n");
  EXPECT_EQ(harness::to_text(again.run.commands[10]), "write thin 256s 8s seed:2");
  EXPECT_EQ(harness::to_text(again.run.commands[11]), "flush thin");
  // After a discard, whose timer expires anyway, there is no second sleep.
  OracleCase after = prepare(std::string(kSmall) + "discard thin 0 64K\nwrite thin 8K 4K seed:2\ncrash\n");
  EXPECT_EQ(std::count(after.timer_expiry.begin(), after.timer_expiry.end(), true), 1);
  EXPECT_TRUE(after.crash_window[9]);  // the discard
  // No write before the crash: nothing to cut, nothing to wait for.
  OracleCase none = prepare(std::string(kSmall) + "crash\n");
  EXPECT_TRUE(none.crash_window[8]);
  EXPECT_EQ(none.sleep_ms, 0u);
}

// From user space a FUA write comes with a flush of the whole device; a power cut would
// tell, so in a case that crashes both sides write and then flush.
TEST(OracleCase, AFuaWriteInACaseThatCrashesIsAWriteAndAFlush) {
  OracleCase oc = prepare(std::string(kSmall) + "write thin 0 4K seed:1 fua\ncrash\n");
  std::vector<std::string> text;
  for (const auto& c : oc.run.commands) text.push_back(harness::to_text(c));
  EXPECT_NE(std::find(text.begin(), text.end(), "write thin 0s 8s seed:1"), text.end());
  EXPECT_EQ(std::count(text.begin(), text.end(), "flush thin"), 2);  // its own, and the fresh write's
  EXPECT_EQ(std::count_if(text.begin(), text.end(), [](const std::string& t) { return t.find(" fua") != std::string::npos; }), 0);
  OracleCase calm = prepare(std::string(kSmall) + "write thin 0 4K seed:1 fua\n");
  EXPECT_EQ(harness::to_text(calm.run.commands[8]), "write thin 0s 8s seed:1 fua");
}

TEST(GuestScript, ACrashReplaysTheJournaledDisksAndStartsNewLogs) {
  OracleCase oc = prepare(std::string(kSmall) + "write thin 0 4K seed:1\ncrash keep=seed:3\n" +
                          "create pool \"0 16384 thin-pool meta data 128 0\"\ncrash\n");
  GuestBatch b = translate_batch({&oc});
  const std::string& s = b.script;
  const CaseLayout& lay = b.layout[0];
  ASSERT_EQ(lay.log_offset.at("meta").size(), 3u);  // a log per segment
  EXPECT_GE(lay.log_offset.at("meta")[0], lay.disk_offset.at("data") + (8u << 20));
  // A step of several dmctl commands is one dmctl process: a chain.
  EXPECT_NE(s.find("run 0.0 dmctl create s0-meta.base --table '0 8192 linear /dev/vda 0' :: create s0-meta.log0"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find(":: create s0-meta --table '0 8192 log-writes /dev/mapper/s0-meta.base /dev/mapper/s0-meta.log0'\n"),
            std::string::npos);
  EXPECT_NE(s.find("if dmctl cut s0-data s0-meta 2>/tmp/e$LANE; then setnow now; gap=$((now - W0)); run 0.11 dmctl "),
            std::string::npos);
  // The devices go newest first, those there are, then the logs close and the disks are
  // replayed by name.
  EXPECT_NE(s.find("run 0.11 dmctl try remove s0-thin :: try remove s0-pool :: remove s0-data :: remove s0-meta :: "
                   "replay seed:3 data=/dev/mapper/s0-data.base:zero:/dev/mapper/s0-data.log0 "
                   "meta=/dev/mapper/s0-meta.base:zero:/dev/mapper/s0-meta.log0:meta :: create s0-data.log1"),
            std::string::npos);
  EXPECT_NE(s.find(":: replay seed:3,none data=/dev/mapper/s0-data.base:zero:/dev/mapper/s0-data.log0,"
                   "/dev/mapper/s0-data.log1 "),
            std::string::npos);
  EXPECT_NE(s.find("[ $gap -lt 950 ] || echo \"ORACLE-S 0.11 err"), std::string::npos);
  // The end: every part of every disk, each removed if it can be, in one process.
  EXPECT_NE(s.find("dmctl try remove s0-data :: try remove s0-data.log0 :: try remove s0-data.log1 :: "
                   "try remove s0-data.log2 :: try remove s0-data.base :: try remove s0-meta :: "),
            std::string::npos);
  EXPECT_NE(s.find(":: try remove s0-meta.base 2>/dev/null\n"), std::string::npos);
}

TEST(GuestScript, FaultsTheGuestCanInject) {
  OracleCase oc = prepare(std::string(kSmall) + "fault data bit-flip 0 800\nfault data ignore-flush\nfault data clear\n" +
                          "fault meta error write\nfault meta clear\n");
  GuestBatch b = translate_batch({&oc});
  const std::string& s = b.script;
  // A flip goes to the disk's slice of /dev/vda (data lies at 5 MiB: sector 10240); an
  // ignored flush without a crash is a lie nobody sees.
  EXPECT_NE(s.find(":: line 0.7 status s0-pool :: run 0.8 flip /dev/vda 10240 800 /tmp/flip.0.data.0.0.8 :: "
                   "ok 0.9 :: run 0.10 unflip /dev/vda 10240 800 /tmp/flip.0.data.0.0.8\n"),
            std::string::npos)
      << s;
  // An IO error is the disk's slice under dm-flakey, always down, until the clear.
  EXPECT_NE(s.find("run 0.11 dmctl suspend s0-meta :: reload s0-meta --table '0 8192 flakey "
                   "/dev/vda 0 0 1 1 error_writes' :: resume s0-meta\n"),
            std::string::npos);
  EXPECT_NE(s.find("run 0.12 dmctl suspend s0-meta :: reload s0-meta --table '0 8192 linear "
                   "/dev/vda 0' :: resume s0-meta\n"),
            std::string::npos);
}

TEST(OracleCase, UsesFlakeyWhereItIsExactAndServesTheDiskOtherwise) {
  const std::string pool = std::string(kSmall);
  auto served = [](const OracleCase& oc, const char* name) { return oc.disk(name)->served; };
  // What dm-flakey does exactly: every IO, or every write, flush and discard (a metadata
  // disk's writes are all of those it gets).
  for (const char* f : {"fault meta error write\n", "fault data error write,flush,discard\n", "fault data error any\n"}) {
    const OracleCase oc = prepare(pool + f);
    EXPECT_FALSE(served(oc, "meta") || served(oc, "data")) << f;
  }
  EXPECT_THROW(prepare(pool + "fault meta error write\ncrash\n"), Untranslatable);
  // Everything else is the model's own fault code in a daemon serving the disk.
  for (const char* f : {"fault data error write\n", "fault data error read\n", "fault meta error write count=1\n",
                        "fault meta error write after=2\n", "fault data latent-error 0 4K\n",
                        "fault data lost-writes 1\n", "fault data misdirected-writes 1 64K\n"}) {
    const OracleCase oc = prepare(pool + f);
    const bool meta = std::string(f).rfind("fault meta", 0) == 0;
    EXPECT_TRUE(served(oc, meta ? "meta" : "data")) << f;
    EXPECT_FALSE(served(oc, meta ? "data" : "meta")) << f;
  }
}

TEST(GuestScript, AServedDiskGetsItsFaultsThroughTheDaemon) {
  OracleCase oc = prepare(std::string(kSmall) + "fault data latent-error 4K 1K\nfault data bit-flip 512 9\n" +
                          "fault data error write,read after=1 count=2\nfault data misdirected-writes 1 -64K\n" +
                          "fault data lost-writes 3\nfault data ignore-flush\nfault data clear\n");
  GuestBatch b = translate_batch({&oc});
  const std::string& s = b.script;
  // The slice at its largest under the daemon, the disk a linear over its nbd device.
  EXPECT_NE(s.find("run 0.1 dmctl create s0-data.media --table '0 16384 linear /dev/vda 10240' :: "
                   "serve s0-data /dev/mapper/s0-data.media :: create s0-data --table '0 16384 linear "
                   "/tmp/nbd/s0-data 0'\n"),
            std::string::npos)
      << s;
  // No crash: the ignored flush (0.13) is a lie nobody sees.
  EXPECT_NE(s.find(":: run 0.8 fault s0-data 'latent 8 2' :: run 0.9 fault s0-data 'flip 1 9' :: "
                   "run 0.10 fault s0-data 'error read,write 1 2 5' :: run 0.11 fault s0-data 'misdirect 1 -128' :: "
                   "run 0.12 fault s0-data 'lose 3' :: ok 0.13 :: run 0.14 fault s0-data 'clear' :: "),
            std::string::npos)
      << s;
  // The end: the disk, the daemon (which writes its faults' contents into the slice),
  // the slice; the metadata disk is a plain slice.
  EXPECT_NE(s.find("dmctl try remove s0-data :: try unserve s0-data :: try remove s0-data.media :: "
                   "try remove s0-meta 2>/dev/null\n"),
            std::string::npos);
  EXPECT_EQ(s.find("s0-meta.media"), std::string::npos);
}

// A resume lets go of the IO its device held: the step's forced commit waits for what
// dmctl io reported queued to end, as the model's resume provisions it within the step.
TEST(GuestScript, AResumesForcedCommitWaitsForTheIOItLetGo) {
  OracleCase oc = prepare(std::string(kSmall) + "suspend thin\nwrite thin 0 4K seed:1 as w\nresume thin\ncomplete w\n");
  const std::string s = translate_batch({&oc}).script;
  EXPECT_NE(s.find(":: run 0.10 resume s0-thin :: settle 200 0_5 0_6 0_9 :: commit 0.10 pool s0-pool\n"), std::string::npos)
      << s;
}

TEST(GuestScript, ACheckCopiesTheDiskOutUnlessATableHoldsIt) {
  OracleCase oc = prepare(std::string(kSmall) + "remove thin\nremove pool\ncheck meta\n");
  GuestBatch b = translate_batch({&oc});
  const size_t i = 10;  // the check
  ASSERT_EQ(harness::to_text(oc.run.commands[i]), "check meta");
  const std::string want = "run 0.10 sh -c 'dmctl unused s0-meta && dd if=/dev/mapper/s0-meta of=/dev/vdc bs=1048576 count=4 seek=" +
                           std::to_string(b.layout[0].out_offset[i]) + " iflag=direct";
  EXPECT_NE(b.script.find(want), std::string::npos) << b.script;
  EXPECT_GE(b.out_bytes, b.layout[0].out_offset[i] + (4u << 20));
  // --clear-needs-check-flag writes the flag off first, as thin_check does after its check.
  OracleCase clear = prepare(std::string(kSmall) + "remove thin\nremove pool\ncheck meta --clear-needs-check-flag\n");
  EXPECT_NE(translate_batch({&clear}).script.find(
                "run 0.10 sh -c 'dmctl unused s0-meta && dmctl clear-needs-check /dev/mapper/s0-meta && dd "),
            std::string::npos);
}

TEST(GuestScript, ManyCasesGetTheirOwnNamesAndSlices) {
  OracleCase a = prepare(kSmall), c = prepare(kSmall);
  GuestBatch b = translate_batch({&a, &c});
  EXPECT_NE(b.script.find(":: run 1.2 create s1-pool --table "), std::string::npos);
  EXPECT_GT(b.layout[1].disk_offset.at("meta"), b.layout[0].disk_offset.at("data"));
  EXPECT_NE(b.script.find("ORACLE-E 1"), std::string::npos);
  EXPECT_NE(b.script.find("lane 0\n"), std::string::npos);
  // In lanes, each in the background, claiming cases as they go.
  GuestBatch two = translate_batch({&a, &c}, 2);
  EXPECT_NE(two.script.find("lane 0 &\nlane 1 &\nwait\n"), std::string::npos) << two.script;
  EXPECT_NE(two.script.find("claim $k && \"case_$k\""), std::string::npos);
  EXPECT_EQ(two.script.substr(0, two.script.find("\nlane()")), b.script.substr(0, b.script.find("\nlane()")));
}

// The lanes' shell code, run by the busybox sh the guest runs it with: each case exactly
// once, and a lane survives a claim it loses (a failed redirection on `:` would end it).
TEST(GuestScript, LanesClaimEveryCaseOnceInBusyboxSh) {
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "no /bin/busybox";
  std::vector<OracleCase> cs;
  for (int i = 0; i < 7; ++i) cs.push_back(prepare(kSmall));
  std::vector<const OracleCase*> ptrs;
  for (auto& c : cs) ptrs.push_back(&c);
  const std::string script = translate_batch(ptrs, 3).script;
  std::string lanes = script.substr(script.find("\nclaim()"));
  const std::string dir = ::testing::TempDir() + "thinsim-lanes-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  for (size_t at = 0; (at = lanes.find("/tmp/", at)) != std::string::npos; at += dir.size() + 1)
    lanes.replace(at, 5, dir + "/");
  std::string stubs;
  for (int k = 0; k < 7; ++k) stubs += "case_" + std::to_string(k) + "() { echo \"RAN " + std::to_string(k) + " $LANE\"; }\n";
  const std::string file = dir + "/lanes.sh";
  std::ofstream(file) << stubs << lanes << "claim x && echo A; claim x || echo B; claim y && echo C\n";
  peer::CommandResult r = peer::run_command({"/bin/busybox", "sh", file});
  std::filesystem::remove_all(dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::multiset<std::string> ran;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    if (l.rfind("RAN ", 0) == 0) ran.insert(l.substr(4, l.find(' ', 4) - 4));
  EXPECT_EQ(ran, (std::multiset<std::string>{"0", "1", "2", "3", "4", "5", "6"})) << r.out;
  EXPECT_NE(r.out.find("A\nB\nC\n"), std::string::npos) << r.out;
}

TEST(KernelVm, ParsesTheConsole) {
  OracleCase oc = prepare(kSmall);
  const std::string console =
      "\x1b[?7lORACLE-READY 3.50\r\nORACLE-B 0\r\nORACLE-S 0.2 ok\nORACLE-S 0.3 err device-mapper: message ioctl on "
      "s0-pool  failed: File exists\nORACLE-S 0.5 ok\nORACLE-C 0.5 pool 0 113/1024 1/128 - rw\nORACLE-S 0.6 line 0 8192 linear 253:0 0\n"
      "ORACLE-M 0.6 s0-meta 253 0\n"
      "ORACLE-E 0\nORACLE-EXIT 0 9.1\n";
  KernelBatchResult r = parse_console(console, {&oc});
  EXPECT_TRUE(r.guest_exited);
  EXPECT_DOUBLE_EQ(r.ready_seconds, 3.5);
  ASSERT_TRUE(r.cases[0].ended);
  ASSERT_TRUE(r.cases[0].steps[3]);
  EXPECT_EQ(normalise_kernel_outcome(r.cases[0].steps[3]->outcome, 0, {}), "error EEXIST");
  ASSERT_EQ(r.cases[0].steps[5]->commits.size(), 1u);
  EXPECT_EQ(r.cases[0].steps[5]->commits[0], "pool 0 113/1024 1/128 - rw");
  ASSERT_TRUE(r.cases[0].steps[6]);
  EXPECT_EQ(r.cases[0].steps[6]->device_numbers.at("253:0"), "s0-meta");
  EXPECT_EQ(normalise_kernel_outcome(r.cases[0].steps[6]->outcome, 0, r.cases[0].steps[6]->device_numbers),
            "line 0 8192 linear meta 0");
  EXPECT_FALSE(r.cases[0].steps[4]);
}

TEST(OracleComparison, FindsTheDataBlocksADumpMaps) {
  const std::string xml =
      "<superblock uuid=\"\" time=\"1\" transaction=\"2\" flags=\"0\" version=\"2\" data_block_size=\"128\" "
      "nr_data_blocks=\"64\">\n  <device dev_id=\"0\" mapped_blocks=\"4\" transaction=\"0\" creation_time=\"0\" "
      "snap_time=\"1\">\n    <range_mapping origin_begin=\"0\" data_begin=\"7\" length=\"3\" time=\"0\"/>\n"
      "    <single_mapping origin_block=\"9\" data_block=\"42\" time=\"1\"/>\n  </device>\n</superblock>\n";
  uint64_t bs = 0;
  EXPECT_EQ(mapped_data_blocks(xml, bs), (std::set<uint64_t>{7, 8, 9, 42}));
  EXPECT_EQ(bs, 128u);
  EXPECT_TRUE(mapped_data_blocks("<superblock/>", bs).empty());
  EXPECT_EQ(bs, 0u);
}

TEST(OracleComparison, MapsErrorTextsAndDeviceNumbers) {
  EXPECT_EQ(errno_from_text("device-mapper: message ioctl on s0-pool  failed: No data available\nCommand failed."), "ENODATA");
  EXPECT_EQ(errno_from_text("dd: error writing '/dev/mapper/s0-t': No space left on device"), "ENOSPC");
  EXPECT_EQ(errno_from_text("dd: can't open '/dev/mapper/s0-t': No such file or directory"), "ENXIO");
  EXPECT_EQ(errno_from_text("Device does not exist.\nCommand failed."), "ENXIO");
  EXPECT_EQ(normalise_kernel_outcome("line 253:0 253:1 128 0 0 ", 2, {{"253:0", "s2-meta"}, {"253:1", "s2-data"}}),
            "line meta data 128 0 0");
}

TEST(RandomScenario, IsDeterministicAndTranslatable) {
  EXPECT_EQ(random_scenario(7), random_scenario(7));
  EXPECT_NE(random_scenario(7), random_scenario(8));
  EXPECT_NE(random_case_seed(1, 0), random_case_seed(1, 1));
  for (uint64_t i = 0; i < 200; ++i) {
    const std::string text = random_scenario(random_case_seed(1, i));
    OracleCase oc = prepare_case(harness::parse_scenario(text, "r"), "r", text);
    EXPECT_NO_THROW(translate_batch({&oc})) << text;
  }
}

TEST(KernelVm, NewcArchiveIsAlignedAndEnds) {
  std::string a = newc_archive("batch.sh", "echo hi\n");
  EXPECT_EQ(a.substr(0, 6), "070701");
  EXPECT_EQ(a.size() % 4, 0u);
  EXPECT_NE(a.find("TRAILER!!!"), std::string::npos);
  EXPECT_NE(a.find("batch.sh"), std::string::npos);
}

}  // namespace
}  // namespace thinsim::kernel
