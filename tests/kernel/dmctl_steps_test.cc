// dmctl steps (sim/kernel/dmctl_steps.h): a run of the script's steps in one process must
// report each exactly as the shell helpers it replaces (guest_script.cc's prelude) would.
#include "sim/kernel/dmctl_steps.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "peer/external_command.h"
#include "sim/kernel/decimal.h"

namespace thinsim::dmctl {
namespace {

// A stand-in for dmctl's commands: "say OUT ERR STATUS" writes OUT and ERR and returns STATUS.
int fake(const std::vector<std::string>& c) {
  if (c.size() == 4 && c[0] == "say") {
    std::fputs(c[1].c_str(), stdout);
    std::fputs(c[2].c_str(), stderr);
    return std::stoi(c[3]);
  }
  if (c.size() == 2 && c[0] == "status") {
    if (c[1] == "gone") {
      std::fputs("device-mapper: status ioctl on gone  failed: No such device or address\n", stderr);
      return 1;
    }
    std::puts("0 8192 thin-pool 1 11/1024 0/64 - rw discard_passdown queue_if_no_space - 1024 ");
    std::puts("8192 8 linear");
    return 0;
  }
  if (c.size() == 1 && c[0] == "list") {
    std::puts("s0-meta 253 0");
    std::puts("s0-data 253 1");
    return 0;
  }
  return 2;
}

TEST(DmctlSteps, CapturesACommandsOutputAndStatus) {
  const Captured c = capture(fake, {"say", "out\n", "err\n", "3"});
  EXPECT_EQ(c.status, 3);
  EXPECT_EQ(c.out, "out\n");
  EXPECT_EQ(c.err, "err\n");
  // Nothing leaks: the descriptors are back where they were.
  EXPECT_EQ(capture(fake, {"say", "", "", "0"}).out, "");
}

TEST(DmctlSteps, ReportsEachItemAsTheShellHelperWould) {
  EXPECT_EQ(report({"run", "3.4", "say", "dropped\n", "", "0"}, fake), "ORACLE-S 3.4 ok\n");
  EXPECT_EQ(report({"run", "3.4", "say", "", "device-mapper: message ioctl on x  failed: Invalid argument\n", "1"}, fake),
            "ORACLE-S 3.4 err device-mapper: message ioctl on x  failed: Invalid argument \n");
  EXPECT_EQ(report({"run", "3.4", "say", "", "", "1"}, fake), "ORACLE-S 3.4 err \n");
  EXPECT_EQ(report({"line", "3.5", "say", "0 100 thin 7 99\n", "", "0"}, fake), "ORACLE-S 3.5 line 7 99\n");
  EXPECT_EQ(report({"line", "3.5", "say", "", "", "0"}, fake), "ORACLE-S 3.5 line \n");
  EXPECT_EQ(report({"commit", "3.6", "pool", "s3-pool"}, fake),
            "ORACLE-C 3.6 pool 1 11/1024 0/64 - rw discard_passdown queue_if_no_space - 1024\n");
  EXPECT_EQ(report({"commit", "3.6", "pool", "gone"}, fake), "") << "a failed commit prints nothing";
  EXPECT_EQ(report({"ok", "3.7"}, fake), "ORACLE-S 3.7 ok\n");
  // As `dmctl list | sed 's/^/ORACLE-M 3.7 /'`.
  EXPECT_EQ(report({"list", "3.7"}, fake), "ORACLE-M 3.7 s0-meta 253 0\nORACLE-M 3.7 s0-data 253 1\n");
  EXPECT_THROW(report({"run", "3.8"}, fake), std::invalid_argument);
  EXPECT_THROW(report({"commit", "3.8", "pool"}, fake), std::invalid_argument);
  EXPECT_THROW(report({"echo", "3.8", "x"}, fake), std::invalid_argument);
  EXPECT_THROW(report({}, fake), std::invalid_argument);
}

// Any block device of the host's: the io item only looks at what DEV is (the stand-in
// runner does the IO).
std::string some_block_device() {
  for (const auto& e : std::filesystem::directory_iterator("/sys/block")) {
    const std::string dev = "/dev/" + e.path().filename().string();
    struct stat st;
    if (::stat(dev.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return dev;
  }
  return "";
}

TEST(DmctlSteps, AnIoItemIsRefusedAsTheScriptRefusesItOrRunsDmctlIo) {
  const std::string dev = some_block_device();
  if (dev.empty()) GTEST_SKIP() << "no block device to stat";
  const std::string dir = ::testing::TempDir() + "dmctl-steps-io-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/size") << "100\n";
  std::vector<std::vector<std::string>> ran;
  auto runner = [&](const std::vector<std::string>& c) {
    if (c[0] == "io") ran.push_back(c);
    return c[0] == "io" ? 0 : fake(c);
  };
  const std::string committed = "ORACLE-C 1.5 pool 1 11/1024 0/64 - rw discard_passdown queue_if_no_space - 1024\n";
  auto item = [&](const std::string& d, const std::string& size, const std::string& end, const std::string& anchor) {
    return std::vector<std::string>{"io", "1.5", d, size, end, anchor, "1_5", "150", "write", "/dev/vdb", "0",
                                    d, "0", "4096", "commit", "pool", "s3-pool"};
  };
  EXPECT_EQ(report(item(dir + "/none", dir + "/size", "8", "-"), runner),
            "ORACLE-S 1.5 err no such device: No such device or address\n" + committed);
  EXPECT_EQ(report(item(dev, dir + "/size", "101", dir + "/anchor:0"), runner),
            "ORACLE-S 1.5 err attempt to access beyond end of device: Input/output error\n" + committed);
  EXPECT_TRUE(ran.empty()) << "a refused IO does not run";
  EXPECT_FALSE(std::filesystem::exists(dir + "/anchor")) << "nor does it move the clock";
  // Within the device, with no length known, or not checked: the IO runs, anchored.
  EXPECT_EQ(report(item(dev, dir + "/size", "100", dir + "/anchor:250"), runner), "");
  EXPECT_EQ(report(item(dev, dir + "/missing", "1000", "-"), runner), "");
  EXPECT_EQ(report(item(dev, "-", "1000", "-"), runner), "");
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran[0], (std::vector<std::string>{"io", "1.5", "1_5", "150", "write", "/dev/vdb", "0", dev, "0", "4096",
                                              "commit", "pool", "s3-pool"}));
  long long origin = -1;
  std::ifstream(dir + "/anchor") >> origin;
  std::ifstream uptime("/proc/uptime");
  double up = 0;
  uptime >> up;
  EXPECT_GE(origin, static_cast<long long>(up * 1000) - 250 - 2000) << "now minus the IO's virtual time";
  EXPECT_LE(origin, static_cast<long long>(up * 1000) - 250 + 10);
  EXPECT_THROW(report(item(dev, "-", "x", "-"), runner), std::invalid_argument);
  EXPECT_THROW(report(item(dev, "-", "1", dir + "/anchor"), runner), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST(DmctlSteps, SettleWaitsOnlyForTheIOReportedQueuedAndStillInFlight) {
  const std::string p = "/tmp/io.settle-" + std::to_string(::getpid()) + "_";
  std::ofstream(p + "1.queued") << "";  // queued, ended since
  std::ofstream(p + "1") << "0\n";
  std::ofstream(p + "3.queued") << "";  // queued, still in flight
  auto elapsed = [&](const std::vector<std::string>& item) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(report(item, fake), "");
    return std::chrono::steady_clock::now() - start;
  };
  const std::string id = "settle-" + std::to_string(::getpid()) + "_";
  // 2 was never queued (it ended within its step): nothing to wait for.
  EXPECT_LT(elapsed({"settle", "60000", id + "1", id + "2"}), std::chrono::seconds(30));
  EXPECT_GE(elapsed({"settle", "50", id + "1", id + "3"}), std::chrono::milliseconds(50));
  EXPECT_THROW(report({"settle", "soon", id + "1"}, fake), std::invalid_argument);
  for (const char* f : {"1.queued", "1", "3.queued"}) std::remove((p + f).c_str());
}

// The rest of a status line, against the busybox sh the guest runs the helpers with.
TEST(DmctlSteps, TheRestOfALineIsWhatBusyboxReadLeaves) {
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "no /bin/busybox";
  for (const char* out : {"0 8192 thin-pool 1 2/3 - rw\n", "  0\t8192  thin   5  7  \nsecond line\n", "0 8192 linear",
                          "0 8192\n", "", "\n", "a b c \t d\te  \n", "0 1 t \\x \\\\ 'q'\n"}) {
    const peer::CommandResult r = peer::run_command(
        {"/bin/busybox", "sh", "-c", "printf '%s' \"$1\" | { rest=; read -r f1 f2 f3 rest; printf '%s' \"$rest\"; }", "sh", out});
    ASSERT_TRUE(r.ok()) << r.err;
    EXPECT_EQ(rest_after_three_fields(out), r.out) << "for " << out;
  }
}

}  // namespace
}  // namespace thinsim::dmctl

namespace thinsim::kernel {
namespace {

TEST(ParseDecimal, TakesDigitsOnly) {
  EXPECT_EQ(parse_decimal("0"), std::optional<uint64_t>(0));
  EXPECT_EQ(parse_decimal("18446744073709551615"), std::optional<uint64_t>(UINT64_MAX));
  for (const char* bad : {"", "-1", "+1", " 5", "5 ", "0x10", "1e3", "18446744073709551616", "12a"})
    EXPECT_FALSE(parse_decimal(bad).has_value()) << '"' << bad << '"';
}

}  // namespace
}  // namespace thinsim::kernel
