// The thinsim command line: exit codes, messages naming the place and the problem, and
// never overwriting what the user gave without --force.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "peer/peer_tools.h"
#include "tests/peer/thinsim_binary.h"

namespace fs = std::filesystem;
using thinsim::peer::CommandResult;
using thinsim::peer::run_command;

namespace {

const char* kPool = R"(<superblock uuid="" time="2" transaction="5" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">
  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="10" length="2" time="0"/>
    <single_mapping origin_block="9" data_block="500" time="1"/>
  </device>
</superblock>
)";

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("thinsim-cli-" + std::to_string(getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    write("pool.xml", kPool);
  }
  void TearDown() override { fs::remove_all(dir); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string path(const std::string& name) { return (dir / name).string(); }
  CommandResult thinsim(std::vector<std::string> args) {
    args.insert(args.begin(), THINSIM_PATH);
    return run_command(args);
  }
  CommandResult restore_pool() { return thinsim({"restore", "-i", path("pool.xml"), "-o", path("meta")}); }

  fs::path dir;
};

}  // namespace

TEST_F(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(thinsim({}).exit_code, 2);
  EXPECT_EQ(thinsim({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(thinsim({"check"}).exit_code, 2);
  EXPECT_EQ(thinsim({"check", "--no-such-flag", "x"}).exit_code, 2);
  EXPECT_EQ(thinsim({"restore", "-i", path("pool.xml")}).exit_code, 2);
  // A negative count is refused by name, not wrapped round to 2^64 - 5 (a campaign that
  // fills the memory before it starts).
  auto neg = thinsim({"oracle", "--random", "-5"});
  EXPECT_EQ(neg.exit_code, 2);
  EXPECT_NE(neg.err.find("--random: (expected a whole number"), std::string::npos) << neg.err;
  EXPECT_EQ(thinsim({"oracle", "-j", "0", "--random", "1"}).exit_code, 2);
  EXPECT_EQ(thinsim({"explore", "--samples", "-1", path("none.scn")}).exit_code, 2);
  EXPECT_EQ(thinsim({"run", "--no-space-timeout", "-3", path("none.scn")}).exit_code, 2);
  auto help = thinsim({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("restore"), std::string::npos);
}

TEST_F(Cli, RestoreCheckDumpRoundTrip) {
  auto r = restore_pool();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto c = thinsim({"check", path("meta")});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("TRANSACTION_ID=5\n"), std::string::npos);
  auto d = thinsim({"dump", path("meta")});
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_EQ(d.out, kPool);
  auto q = thinsim({"check", "-q", path("meta")});
  EXPECT_EQ(q.exit_code, 0);
  EXPECT_EQ(q.out + q.err, "");
}

TEST_F(Cli, MissingFilesAreEnvironmentErrors) {
  auto c = thinsim({"check", path("nope")});
  EXPECT_EQ(c.exit_code, 4);
  EXPECT_NE(c.err.find("nope"), std::string::npos);
  EXPECT_EQ(thinsim({"dump", path("nope")}).exit_code, 4);
  EXPECT_EQ(thinsim({"restore", "-i", path("nope.xml"), "-o", path("meta")}).exit_code, 4);
  EXPECT_FALSE(fs::exists(dir / "meta"));
}

TEST_F(Cli, BadXmlNamesLineAndColumn) {
  write("bad.xml", "<superblock uuid=\"\" time=\"0\" transaction=\"0\" data_block_size=\"128\" "
                   "nr_data_blocks=\"10\">\n  <device dev_id=\"1\" mapped_blocks=\"0\" "
                   "transaction=\"0\" creation_time=\"0\">\n  </device>\n</superblock>\n");
  auto r = thinsim({"restore", "-i", path("bad.xml"), "-o", path("meta")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("bad.xml:2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("snap_time"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "meta"));  // created by the failed run, so removed
}

TEST_F(Cli, UnrestorableXmlIsBadInput) {
  write("beyond.xml", R"(<superblock uuid="" time="0" transaction="0" data_block_size="128" nr_data_blocks="10">
  <device dev_id="1" mapped_blocks="1" transaction="0" creation_time="0" snap_time="0">
    <single_mapping origin_block="0" data_block="10" time="0"/>
  </device>
</superblock>
)");
  auto r = thinsim({"restore", "-i", path("beyond.xml"), "-o", path("meta")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("beyond.xml:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nr_data_blocks"), std::string::npos) << r.err;
}

TEST_F(Cli, NothingIsOverwrittenWithoutForce) {
  ASSERT_EQ(restore_pool().exit_code, 0);
  // Restoring over metadata needs --force.
  auto again = restore_pool();
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.err.find("--force"), std::string::npos);
  EXPECT_EQ(thinsim({"restore", "-i", path("pool.xml"), "-o", path("meta"), "--force"}).exit_code, 0);
  // So does dumping over an existing file.
  write("out.xml", "precious");
  auto d = thinsim({"dump", path("meta"), "-o", path("out.xml")});
  EXPECT_EQ(d.exit_code, 4);
  EXPECT_EQ(read("out.xml"), "precious");
  EXPECT_EQ(thinsim({"dump", path("meta"), "-o", path("out.xml"), "--force"}).exit_code, 0);
  EXPECT_EQ(read("out.xml"), kPool);
}

TEST_F(Cli, DamagedMetadataExitsOne) {
  ASSERT_EQ(restore_pool().exit_code, 0);
  {
    std::fstream f(dir / "meta", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(50);  // the superblock's transaction id
    f.put('\x77');
  }
  auto c = thinsim({"check", path("meta")});
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find("block 0"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("checksum"), std::string::npos) << c.err;
  auto d = thinsim({"dump", path("meta")});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("bad superblock"), std::string::npos) << d.err;
}

TEST_F(Cli, XmlGivenToCheckIsRecognised) {
  auto big = std::string(kPool);
  while (big.size() < 8192) big += "<!-- padding -->\n";
  write("looks.xml", big);
  auto c = thinsim({"check", path("looks.xml")});
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find("This looks like XML"), std::string::npos) << c.err;
}

TEST_F(Cli, ClearNeedsCheckFlag) {
  std::string flagged = kPool;
  flagged.replace(flagged.find("flags=\"0\""), 9, "flags=\"1\"");
  write("flagged.xml", flagged);
  ASSERT_EQ(thinsim({"restore", "-i", path("flagged.xml"), "-o", path("meta")}).exit_code, 0);
  EXPECT_NE(thinsim({"dump", path("meta")}).out.find("flags=\"1\""), std::string::npos);
  auto c = thinsim({"check", "--clear-needs-check-flag", path("meta")});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("cleared needs_check flag"), std::string::npos);
  EXPECT_EQ(thinsim({"dump", path("meta")}).out, kPool);
  EXPECT_EQ(thinsim({"check", path("meta")}).exit_code, 0);
}

TEST_F(Cli, TooSmallMetadataDevice) {
  auto r = thinsim({"restore", "-i", path("pool.xml"), "-o", path("meta"), "--metadata-size", "24K"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("too small"), std::string::npos) << r.err;
  EXPECT_EQ(thinsim({"restore", "-i", path("pool.xml"), "-o", path("m2"), "--metadata-size", "lots"}).exit_code, 2);
}

TEST_F(Cli, MetadataSnapshotDump) {
  ASSERT_EQ(restore_pool().exit_code, 0);
  auto d = thinsim({"dump", "-m", path("meta")});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("no current metadata snapshot"), std::string::npos) << d.err;
}

// thinsim run --report: a failing scenario leaves a bundle and a replay command; an
// existing report is not overwritten without --force.
TEST_F(Cli, RunReportBundlesFailuresAndKeepsExistingReports) {
  write("good.scn", "disk meta 4M\ndisk data 8M\ncreate pool \"0 16384 thin-pool meta data 128 0\"\n"
                    "message pool 0 \"create_thin 0\"\n");
  write("bad.scn", "disk meta 4M\ndisk data 8M\ncreate pool \"0 16384 thin-pool meta data 128 0\"\n"
                   "status pool expect transaction_id=7\n");
  const std::string out = path("reports/r1");
  auto r = thinsim({"run", "--check-model", "--check-peer", "--report", out, path("good.scn"), path("bad.scn")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS " + path("good.scn")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("replay: thinsim run --check-model --check-peer -v " + path("bad.scn")), std::string::npos);
  const std::string json = read("reports/r1/scenarios.json");
  EXPECT_NE(json.find("\"schema\": \"thinsim-scenario-report/1\""), std::string::npos);
  EXPECT_NE(json.find("\"failed\": 1"), std::string::npos);
  EXPECT_NE(read("reports/r1/scenarios-junit.xml").find("<failure message=\"transaction_id is 0"),
            std::string::npos);
  const fs::path bundle = dir / "reports/r1/bundles/scenario-1-bad";
  EXPECT_TRUE(fs::exists(bundle / "trace.txt"));
  EXPECT_TRUE(fs::exists(bundle / "bad.scn"));
  EXPECT_TRUE(fs::is_directory(bundle / "peer"));
  EXPECT_NE(read("reports/history.jsonl").find("\"kind\":\"scenarios\""), std::string::npos);

  auto again = thinsim({"run", "--report", out, path("good.scn")});
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.err.find("refusing to overwrite"), std::string::npos);
  EXPECT_EQ(thinsim({"run", "--report", out, "--force", path("good.scn")}).exit_code, 0);
}

TEST_F(Cli, BugSwitches) {
  CommandResult list = thinsim({"bugs"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("BZ-TM-01"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("a9d45396f595"), std::string::npos) << list.out;  // the fix reverted
  write("idle.scn", "disk meta 4M\n");
  CommandResult unknown = thinsim({"run", "--bug", "BZ-NO-1", path("idle.scn")});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("BZ-NO-1"), std::string::npos) << unknown.err;
  CommandResult on = thinsim({"run", "--bug", "BZ-PM-12", "--bug", "bz-tm-07", path("idle.scn")});
  EXPECT_EQ(on.exit_code, 0) << on.out << on.err;
  EXPECT_NE(on.err.find("BZ-TM-07,BZ-PM-12"), std::string::npos) << on.err;
}
