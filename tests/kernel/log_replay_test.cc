// The guest's power cut without a VM: dm-log-writes logs built here byte by byte, read
// back and replayed as the guest's dmctl replay does (label: unit).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fault/crash_chooser.h"
#include "peer/external_command.h"
#include "sim/kernel/log_replay.h"
#include "sim/kernel/write_log.h"

namespace thinsim::kernel {
namespace {

// A log in the target's format: super in sector 0, an entry sector per entry, the data
// after a write's entry.
class LogImage {
 public:
  LogImage() : bytes_(512, std::byte{0}) {}
  uint64_t write(uint64_t sector, uint64_t sectors, uint64_t flags = 0) {
    entry(sector, sectors, flags, "");
    const uint64_t at = bytes_.size();
    for (uint64_t i = 0; i < sectors * 512; ++i) bytes_.push_back(std::byte(uint8_t(sector + i)));
    return at;
  }
  void discard(uint64_t sector, uint64_t sectors) { entry(sector, sectors, kLogDiscard, ""); }
  void flush() { entry(0, 0, kLogFlush, ""); }
  void mark(std::string_view text) { entry(0, 0, kLogMark, text); }
  std::vector<WriteLogEntry> read() {
    put64(0, kWriteLogMagic);
    put64(8, kWriteLogVersion);
    put64(16, entries_);
    put64(24, 512);  // sectorsize (le32) and 4 zero bytes
    return read_write_log(
        [&](uint64_t off, std::span<std::byte> out) {
          if (off + out.size() > bytes_.size()) return false;
          std::memcpy(out.data(), bytes_.data() + off, out.size());
          return true;
        },
        bytes_.size());
  }
  std::vector<std::byte>& bytes() { return bytes_; }
  void put64(size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_[at + i] = std::byte(uint8_t(v >> (8 * i)));
  }

 private:
  void entry(uint64_t sector, uint64_t sectors, uint64_t flags, std::string_view mark) {
    const size_t at = bytes_.size();
    bytes_.resize(at + 512, std::byte{0});
    put64(at, sector);
    put64(at + 8, sectors);
    put64(at + 16, flags);
    put64(at + 24, mark.size());
    std::memcpy(bytes_.data() + at + 32, mark.data(), mark.size());
    ++entries_;
  }
  std::vector<std::byte> bytes_;
  uint64_t entries_ = 0;
};

ReplaySource initial() { return {}; }
ReplaySource zero() { return {ReplaySource::Kind::zero, 0, 0}; }
ReplaySource logged(uint32_t seg, uint64_t off) { return {ReplaySource::Kind::log, seg, off}; }

void crash_marks(LogImage& l) {
  l.mark(kMarkPrecrash);
  // (the cached writes the crash's flush brings in go here)
}

TEST(WriteLog, ReadsWritesFlushesDiscardsAndMarks) {
  LogImage l;
  const uint64_t data = l.write(8, 2, kLogFua);
  l.discard(100, 50);
  l.flush();
  l.mark("crash");
  auto e = l.read();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].sector, 8u);
  EXPECT_EQ(e[0].nr_sectors, 2u);
  EXPECT_TRUE(e[0].is_fua());
  EXPECT_EQ(e[0].data_offset, data);
  EXPECT_TRUE(e[1].is_discard());
  EXPECT_EQ(e[1].nr_sectors, 50u);
  EXPECT_TRUE(e[2].is_flush());
  EXPECT_TRUE(e[3].is_mark());
  EXPECT_EQ(e[3].mark, "crash");
}

TEST(WriteLog, RefusesWhatIsNotALogOrIsCutShort) {
  LogImage l;
  l.write(0, 4);
  l.read();
  l.bytes().resize(l.bytes().size() - 512);  // the write's data cut short
  EXPECT_THROW(l.read(), WriteLogError);
  LogImage bad;
  bad.write(0, 1);
  bad.read();
  bad.put64(0, 0x1234);
  EXPECT_THROW(read_write_log([&](uint64_t off, std::span<std::byte> out) {
                 std::memcpy(out.data(), bad.bytes().data() + off, out.size());
                 return true;
               }, bad.bytes().size()),
               WriteLogError);
  LogImage lying;
  lying.write(0, 1);
  lying.read();
  lying.put64(16, 1u << 30);  // more entries than could fit
  EXPECT_THROW(read_write_log([&](uint64_t off, std::span<std::byte> out) {
                 if (off + out.size() > lying.bytes().size()) return false;
                 std::memcpy(out.data(), lying.bytes().data() + off, out.size());
                 return true;
               }, lying.bytes().size()),
               WriteLogError);
}

TEST(LogReplay, ParsesCrashChoices) {
  EXPECT_EQ(parse_crash_choice("none")->keep, KeepCached::none);
  EXPECT_EQ(parse_crash_choice("all")->keep, KeepCached::all);
  EXPECT_EQ(parse_crash_choice("seed:42")->seed, 42u);
  EXPECT_FALSE(parse_crash_choice("seed:"));
  EXPECT_FALSE(parse_crash_choice("seed:4x"));
  EXPECT_FALSE(parse_crash_choice("some"));
  EXPECT_EQ(to_string(*parse_crash_choice("seed:7")), "seed:7");
}

// Durable before the flush, cached after it, undone after the crash mark.
TEST(LogReplay, KeepsWhatAFlushMadeDurableAndUndoesTheRest) {
  LogImage l;
  const uint64_t a = l.write(0, 4);
  l.flush();
  crash_marks(l);
  l.write(2, 4);  // cached when the crash came
  l.flush();      // the crash's own flush
  l.mark(kMarkCrash);
  l.write(20, 1);  // the teardown
  const DiskLogs d{"meta", {l.read()}};
  auto none = plan_replay({d}, {{KeepCached::none, 0}});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0], (std::vector<ReplayPiece>{{0, 4, logged(0, a)}, {4, 6, initial()}, {20, 21, initial()}}));
  auto all = plan_replay({d}, {{KeepCached::all, 0}});
  const uint64_t b = a + 4 * 512 + 512 + 512 + 512;  // after a's data, the flush, the mark, b's entry
  EXPECT_EQ(all[0], (std::vector<ReplayPiece>{{0, 2, logged(0, a)}, {2, 6, logged(0, b)}, {20, 21, initial()}}));
}

TEST(LogReplay, ADurableDiscardReadsAsZeroes) {
  LogImage l;
  l.write(0, 8);
  l.discard(2, 4);
  l.flush();
  crash_marks(l);
  l.flush();
  l.mark(kMarkCrash);
  auto p = plan_replay({{"data", {l.read()}}}, {{KeepCached::none, 0}});
  ASSERT_EQ(p[0].size(), 3u);
  EXPECT_EQ(p[0][1], (ReplayPiece{2, 6, zero()}));
  EXPECT_EQ(p[0][2].begin, 6u);
  EXPECT_EQ(p[0][2].source.offset, p[0][0].source.offset + 6 * 512);  // the split keeps the offset
}

// The seeded choice is the model's: one chooser per crash, one decision per cached write,
// the disks by name.
TEST(LogReplay, ASeededCrashDecidesAsTheModelsChooser) {
  LogImage data, meta;
  std::vector<uint64_t> data_at, meta_at;
  for (LogImage* l : {&data, &meta}) crash_marks(*l);
  for (uint64_t i = 0; i < 6; ++i) data_at.push_back(data.write(i * 8, 8));
  for (uint64_t i = 0; i < 6; ++i) meta_at.push_back(meta.write(i * 8, 8));
  for (LogImage* l : {&data, &meta}) {
    l->flush();
    l->mark(kMarkCrash);
  }
  auto p = plan_replay({{"data", {data.read()}}, {"meta", {meta.read()}}}, {{KeepCached::seeded, 3}});
  fault::SeededChooser chooser(3);
  for (size_t d = 0; d < 2; ++d) {
    const auto& at = d == 0 ? data_at : meta_at;
    for (uint64_t i = 0; i < 6; ++i) {
      const bool kept = chooser.choose(2) == 1;
      const ReplayPiece want{i * 8, i * 8 + 8, kept ? logged(0, at[i]) : initial()};
      bool found = false;
      for (const ReplayPiece& piece : p[d])
        if (piece.begin <= want.begin && want.end <= piece.end)
          found = kept ? piece == want : piece.source == initial();
      EXPECT_TRUE(found) << "disk " << d << " write " << i;
    }
  }
}

// On a metadata disk the writes of one flush batch are decided on in ascending sector
// order, as the model's block manager issues them; the kernel's complete in any order.
TEST(LogReplay, AMetadataDisksCachedWritesAreDecidedOnInBlockOrderPerBatch) {
  LogImage l;
  l.mark(kMarkLie);  // every write stays cached
  const uint64_t b2 = l.write(16, 8), b1 = l.write(8, 8), b0 = l.write(0, 8);  // one batch, as completed
  l.flush();
  const uint64_t c1 = l.write(8, 8);  // the next batch
  l.flush();
  crash_marks(l);
  l.flush();
  l.mark(kMarkCrash);
  const auto entries = l.read();
  auto plan = [&](bool metadata) {
    DiskLogs d{"meta", {entries}, metadata};
    return plan_replay({d}, {{KeepCached::seeded, 3}})[0];
  };
  // The model's order: 0, 8, 16, then 8 again.
  fault::SeededChooser chooser(3);  // keeps 1, 1, 0, 1: the two orders part
  std::vector<bool> keep;
  for (int i = 0; i < 4; ++i) keep.push_back(chooser.choose(2) == 1);
  auto source = [&](const std::vector<ReplayPiece>& pieces, uint64_t sector) {
    for (const ReplayPiece& p : pieces)
      if (p.begin <= sector && sector < p.end)
        return p.source.kind == ReplaySource::Kind::log ? p.source.offset + (sector - p.begin) * 512 : 0;
    return uint64_t(0);
  };
  const auto sorted = plan(true);
  EXPECT_EQ(source(sorted, 0), keep[0] ? b0 : 0);
  EXPECT_EQ(source(sorted, 8), keep[3] ? c1 : keep[1] ? b1 : 0);
  EXPECT_EQ(source(sorted, 16), keep[2] ? b2 : 0);
  // A data disk keeps the log's order: 16, 8, 0, then 8.
  const auto logged = plan(false);
  EXPECT_EQ(source(logged, 16), keep[0] ? b2 : 0);
  EXPECT_EQ(source(logged, 0), keep[2] ? b0 : 0);
  EXPECT_NE(sorted, logged);
}

TEST(LogReplay, FlushesAndFuaWritesMakeNothingDurableWhileTheCacheLies) {
  LogImage l;
  const uint64_t a = l.write(0, 1);
  l.flush();
  l.mark(kMarkLie);
  l.write(8, 1, kLogFua);
  l.write(16, 1);
  l.flush();
  l.mark(kMarkTruth);
  crash_marks(l);
  l.flush();
  l.mark(kMarkCrash);
  auto p = plan_replay({{"meta", {l.read()}}}, {{KeepCached::none, 0}});
  EXPECT_EQ(p[0], (std::vector<ReplayPiece>{{0, 1, logged(0, a)}, {8, 9, initial()}, {16, 17, initial()}}));
}

TEST(LogReplay, TheLieCarriesOverACrash) {
  LogImage first, second;
  first.mark(kMarkLie);
  crash_marks(first);
  first.flush();
  first.mark(kMarkCrash);
  second.write(0, 1);
  second.flush();  // still a lie
  crash_marks(second);
  second.flush();
  second.mark(kMarkCrash);
  auto p = plan_replay({{"meta", {first.read(), second.read()}}}, {{KeepCached::none, 0}, {KeepCached::none, 0}});
  EXPECT_EQ(p[0], (std::vector<ReplayPiece>{{0, 1, initial()}}));
}

TEST(LogReplay, ALaterSegmentBuildsOnTheEarlierOnes) {
  LogImage first, second;
  const uint64_t a = first.write(0, 4);
  first.flush();
  crash_marks(first);
  first.flush();
  first.mark(kMarkCrash);
  first.write(100, 1);  // teardown of the first segment
  const uint64_t b = second.write(2, 4);
  second.flush();
  crash_marks(second);
  second.flush();
  second.mark(kMarkCrash);
  auto p = plan_replay({{"meta", {first.read(), second.read()}}}, {{KeepCached::none, 0}, {KeepCached::none, 0}});
  EXPECT_EQ(p[0], (std::vector<ReplayPiece>{{0, 2, logged(0, a)}, {2, 6, logged(1, b)}, {100, 101, initial()}}));
}

TEST(LogReplay, RefusesALogWithoutItsCrashMark) {
  LogImage l;
  l.write(0, 1);
  l.flush();
  EXPECT_THROW(plan_replay({{"meta", {l.read()}}}, {{KeepCached::none, 0}}), ReplayError);
  EXPECT_THROW(plan_replay({{"meta", {}}}, {{KeepCached::none, 0}}), ReplayError);
}

// A cached write logged after a FUA write to the same sectors may have completed before
// it or after it: the log cannot tell, so the replay does not guess.
TEST(LogReplay, RefusesACachedWriteItCannotOrderAgainstAFuaWrite) {
  LogImage l;
  l.write(0, 4, kLogFua);
  l.write(2, 1);
  l.flush();
  crash_marks(l);
  l.flush();
  l.mark(kMarkCrash);
  EXPECT_THROW(plan_replay({{"meta", {l.read()}}}, {{KeepCached::all, 0}}), ReplayError);
}

// The guest's dmctl replay itself, on image files: what it rewrites and from where.
TEST(DmctlReplay, RewritesEverySectorALogTouchedAndNothingElse) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("thinsim-dmctl-replay-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto put = [&](const std::string& name, const std::vector<std::byte>& bytes) {
    std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  };
  auto get = [&](const std::string& name) {
    std::ifstream f(dir / name, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return c;
  };
  LogImage l;
  const uint64_t a = l.write(0, 8);  // durable
  l.flush();
  crash_marks(l);
  l.write(16, 8);  // cached when the crash came
  l.flush();
  l.mark(kMarkCrash);
  l.write(32, 8);  // the teardown
  l.read();        // writes the super
  put("log", l.bytes());
  // The disk as the kernel left it: every write on it, and bytes no log touched.
  put("base", std::vector<std::byte>(64 * 512, std::byte{0xee}));
  put("initial", std::vector<std::byte>(64 * 512, std::byte{0x11}));
  for (const char* initial : {"initial", "zero"}) {
    const std::string init = std::string(initial) == "zero" ? "zero" : (dir / "initial").string();
    auto r = peer::run_command({THINSIM_DMCTL, "replay", "none",
                                "d=" + (dir / "base").string() + ":" + init + ":" + (dir / "log").string()});
    ASSERT_TRUE(r.ok()) << r.status() << ": " << r.err;
    const auto base = get("base");
    ASSERT_EQ(base.size(), 64u * 512);
    const char was = std::string(initial) == "zero" ? 0 : 0x11;
    for (size_t i = 0; i < base.size(); ++i) {
      const size_t sector = i / 512;
      char want = char(0xee);
      if (sector < 8) want = static_cast<char>(std::to_integer<unsigned char>(l.bytes()[a + i]));
      else if ((sector >= 16 && sector < 24) || (sector >= 32 && sector < 40)) want = was;
      ASSERT_EQ(base[i], want) << initial << ": byte " << i;
    }
  }
  // A log that is not one is refused, with the reason.
  put("log", std::vector<std::byte>(4096, std::byte{0}));
  auto bad = peer::run_command({THINSIM_DMCTL, "replay", "none",
                                "d=" + (dir / "base").string() + ":zero:" + (dir / "log").string()});
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.err.find("bad magic"), std::string::npos) << bad.err;
  fs::remove_all(dir);
}

// Several commands in one dmctl process: each only after those before succeeded, and one
// after `try` quietly, whatever its outcome.
// A disk of 0xee bytes and a log of one flushed write up to a crash, in files: `replay`
// is dmctl replay's argument for them, first_byte() tells whether a replay ran.
class ReplayableDisk {
 public:
  explicit ReplayableDisk(const std::string& tag)
      : dir_(std::filesystem::temp_directory_path() / ("thinsim-" + tag + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
    LogImage l;
    l.write(0, 8);
    l.flush();
    crash_marks(l);
    l.mark(kMarkCrash);
    l.read();
    put("log", l.bytes());
    put("base", std::vector<std::byte>(64 * 512, std::byte{0xee}));
    replay = "d=" + (dir_ / "base").string() + ":zero:" + (dir_ / "log").string();
  }
  ~ReplayableDisk() { std::filesystem::remove_all(dir_); }
  int first_byte() const {
    std::ifstream f(dir_ / "base", std::ios::binary);
    return f.get();
  }
  std::string replay;

 private:
  void put(const std::string& name, const std::vector<std::byte>& bytes) const {
    std::ofstream f(dir_ / name, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  std::filesystem::path dir_;
};

TEST(DmctlChain, RunsACommandOnlyAfterTheOnesBeforeSucceeded) {
  ReplayableDisk disk("dmctl-chain");
  const std::string& replay = disk.replay;
  auto first_byte = [&] { return disk.first_byte(); };

  auto failed = peer::run_command({THINSIM_DMCTL, "unserve", "nosuch", "::", "replay", "none", replay});
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.err.find("no server for nosuch"), std::string::npos) << failed.err;
  EXPECT_EQ(first_byte(), 0xee) << "the replay after the failure ran";

  auto tried = peer::run_command({THINSIM_DMCTL, "try", "unserve", "nosuch", "::", "replay", "none", replay});
  EXPECT_TRUE(tried.ok()) << tried.status() << ": " << tried.err;
  EXPECT_EQ(tried.err, "") << "a try's errors are not printed";
  EXPECT_NE(first_byte(), 0xee) << "the replay after the try did not run";

  auto last = peer::run_command({THINSIM_DMCTL, "replay", "none", replay, "::", "unserve", "nosuch"});
  EXPECT_FALSE(last.ok()) << "the chain's status is its first failure's";
}

TEST(DmctlSteps, EachItemRunsWhateverTheOnesBeforeDidAndIsReported) {
  ReplayableDisk disk("dmctl-steps");
  const std::string& replay = disk.replay;
  auto r = peer::run_command({THINSIM_DMCTL, "steps", "run", "1.0", "unserve", "nosuch", "::", "ok", "1.1", "::", "run",
                              "1.2", "replay", "none", replay, "::", "bogus", "1.3", "::", "ok", "1.4"});
  EXPECT_EQ(r.exit_code, 2) << "a malformed item ends the run";
  EXPECT_NE(r.err.find("dmctl steps: not an item: bogus"), std::string::npos) << r.err;
  const std::string first = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(first.rfind("ORACLE-S 1.0 err ", 0), 0u) << r.out;
  EXPECT_NE(first.find("no server for nosuch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nORACLE-S 1.1 ok\nORACLE-S 1.2 ok\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("1.4"), std::string::npos) << "nothing runs after a malformed item";
  EXPECT_NE(disk.first_byte(), 0xee) << "the replay after a failed step did not run";
}

}  // namespace
}  // namespace thinsim::kernel
