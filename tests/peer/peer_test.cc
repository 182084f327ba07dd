// Differential tests of thinsim against thin-provisioning-tools 0.9.0 (label: peer).
//
// Every random test runs fixed seeds derived from its name (printed), so a run is
// reproducible; THINSIM_PEER_FRESH=1 draws fresh seeds instead (for campaigns) and
// THINSIM_SEED runs exactly one seed. THINSIM_PEER_CASES changes how many seeds a random
// test runs and THINSIM_PEER_PROFILE their size profile (tiny, small, medium, large, mixed). A failing
// case leaves a bundle directory (under THINSIM_BUNDLE_DIR, default <build>/tests/peer/
// bundles) and prints a one-line replay command.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "tests/peer/damage.h"
#include "tests/peer/differential.h"
#include "peer/peer_tools.h"
#include "tests/peer/thinsim_binary.h"
#include "tests/peer/pool_generator.h"

#ifndef PEER_BUNDLE_DIR
#define PEER_BUNDLE_DIR "/tmp/thinsim-peer-bundles"
#endif

namespace fs = std::filesystem;
using namespace thinsim::peer;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

size_t cases_from_env(size_t fallback) {
  const char* v = std::getenv("THINSIM_PEER_CASES");
  if (!v || !*v) return fallback;
  return static_cast<size_t>(std::stoul(v));
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "peer_test";
  buf[n] = '\0';
  return buf;
}

std::string current_test() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name();
}

// The peer tools, or a test failure with the install hint (never a silent skip).
std::optional<PeerTools> peers_or_fail() {
  try {
    return locate_peer_tools();
  } catch (const ToolMissing& e) {
    ADD_FAILURE() << e.what();
    return std::nullopt;
  }
}

std::optional<std::string> thinsim_or_fail() {
  try {
    return locate_thinsim();
  } catch (const ToolMissing& e) {
    ADD_FAILURE() << e.what();
    return std::nullopt;
  }
}

class PeerEnv {
 public:
  // Case directories live under the bundle directory: passing ones are removed, failing
  // ones stay there as bundles.
  PeerEnv() : work_(env_or("THINSIM_BUNDLE_DIR", PEER_BUNDLE_DIR)) {}

  EngineOptions options(const PeerTools& peers, const std::string& thinsim) const {
    EngineOptions o;
    o.peers = peers;
    o.thinsim = thinsim;
    o.work_root = work_;
    o.timeout = std::chrono::seconds(120);
    std::string test = current_test();
    std::string exe = self_exe();
    o.replay = [test, exe](uint64_t seed, const std::string& profile) {
      return "THINSIM_SEED=" + std::to_string(seed) + " THINSIM_PEER_PROFILE=" + shell_quote(profile) + " " +
             shell_quote(exe) + " --gtest_filter=" + test;
    };
    o.log = [](const std::string& line) { std::cout << "[peer] " << line << std::endl; };
    return o;
  }

 private:
  std::string work_;
};

// The seed of a test's index-th random case: derived from the test's name, or fresh from
// std::random_device when THINSIM_PEER_FRESH is set.
uint64_t case_seed(size_t index) {
  if (!env_or("THINSIM_PEER_FRESH", "").empty()) return fresh_seed();
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over the test name
  for (char c : current_test()) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return derive_seed(h, index);
}

// Runs `n` random cases (or the THINSIM_SEED one) and expects each to pass.
void run_random_cases(const EngineOptions& o, const std::string& default_profile, size_t default_n) {
  std::string profile = env_or("THINSIM_PEER_PROFILE", default_profile);
  std::vector<uint64_t> seeds;
  if (auto s = seed_from_env()) {
    seeds.push_back(*s);
  } else {
    size_t n = cases_from_env(default_n);
    for (size_t i = 0; i < n; ++i) seeds.push_back(case_seed(i));
  }
  std::cout << "[peer] " << current_test() << ": profile " << profile << ", seeds:";
  for (uint64_t s : seeds) std::cout << " " << s;
  std::cout << " (set THINSIM_SEED=<seed> to rerun one)" << std::endl;
  for (uint64_t seed : seeds) {
    CaseResult r = run_case(o, seed, profile);
    std::cout << "[peer] seed " << seed << ": " << r.nr_passed() << " checks passed, " << r.nr_failed()
              << " failed, " << r.notes.size() << " notes, " << r.seconds << " s" << std::endl;
    EXPECT_TRUE(r.passed()) << r.failure_report();
    if (!r.passed()) std::cout << "[peer] REPLAY: " << r.replay << std::endl;
  }
}

void run_fixed_case(EngineOptions o, uint64_t seed, const std::string& profile) {
  o.replay = nullptr;  // the default: a thinsim-conformance --case command for this one case
  CaseResult r = run_case(o, seed, profile);
  std::cout << "[peer] fixed seed " << seed << " (" << profile << "): " << r.nr_passed() << " passed, "
            << r.nr_failed() << " failed, " << r.seconds << " s" << std::endl;
  EXPECT_TRUE(r.passed()) << r.failure_report();
  if (!r.passed()) std::cout << "[peer] REPLAY: " << r.replay << std::endl;
}

// ---- a reader for the generator's own output, to check pool invariants without tools

struct XmlFacts {
  uint64_t sb_time = 0, nr_data_blocks = 0, data_block_size = 0;
  uint64_t devices = 0, mappings = 0, max_map_time = 0, max_dev_time = 0;
  std::map<uint64_t, uint64_t> data_refs;  // data block -> mappings (sampled: all)
  std::vector<std::string> violations;
};

uint64_t attr(const std::string& line, const std::string& name) {
  std::string key = " " + name + "=\"";
  size_t p = line.find(key);
  if (p == std::string::npos) throw std::runtime_error("missing " + name + " in: " + line);
  return std::stoull(line.substr(p + key.size()));
}

XmlFacts read_facts(const std::string& xml) {
  XmlFacts f;
  std::istringstream in(xml);
  std::string line;
  int64_t last_dev = -1;
  uint64_t dev_mapped = 0, dev_count = 0, creation = 0;
  bool have_prev = false;
  uint64_t prev_end = 0, prev_dend = 0, prev_time = 0;
  auto bad = [&](const std::string& what) { f.violations.push_back(what + ": " + line); };
  while (std::getline(in, line)) {
    if (line.rfind("<superblock ", 0) == 0) {
      f.sb_time = attr(line, "time");
      f.nr_data_blocks = attr(line, "nr_data_blocks");
      f.data_block_size = attr(line, "data_block_size");
    } else if (line.rfind("  <device ", 0) == 0) {
      auto id = static_cast<int64_t>(attr(line, "dev_id"));
      if (id <= last_dev) bad("devices not ascending");
      if (id > static_cast<int64_t>(kMaxThinId)) bad("dev_id above 2^24-1");
      last_dev = id;
      dev_mapped = attr(line, "mapped_blocks");
      creation = attr(line, "creation_time");
      uint64_t snap = attr(line, "snap_time");
      if (snap < creation) bad("snap_time < creation_time");
      f.max_dev_time = std::max({f.max_dev_time, creation, snap});
      dev_count = 0;
      have_prev = false;
      ++f.devices;
    } else if (line == "  </device>") {
      if (dev_count != dev_mapped) bad("mapped_blocks " + std::to_string(dev_mapped) + " != " + std::to_string(dev_count));
    } else if (line.find("_mapping ") != std::string::npos) {
      bool single = line.find("single_mapping") != std::string::npos;
      uint64_t o = attr(line, single ? "origin_block" : "origin_begin");
      uint64_t d = attr(line, single ? "data_block" : "data_begin");
      uint64_t len = single ? 1 : attr(line, "length");
      uint64_t t = attr(line, "time");
      if (!single && len < 2) bad("range_mapping shorter than 2");
      if (have_prev && o < prev_end) bad("mappings not ascending / overlapping");
      if (have_prev && o == prev_end && d == prev_dend && t == prev_time) bad("not coalesced");
      if (d + len > f.nr_data_blocks) bad("data block beyond nr_data_blocks");
      if (t > kMaxMappingTime) bad("mapping time above 2^24-1");
      f.max_map_time = std::max(f.max_map_time, t);
      for (uint64_t i = 0; i < len && f.data_refs.size() < 2000000; ++i) f.data_refs[d + i]++;
      have_prev = true;
      prev_end = o + len;
      prev_dend = d + len;
      prev_time = t;
      dev_count += len;
      f.mappings += len;
    }
  }
  if (f.max_map_time > f.sb_time) f.violations.push_back("a mapping time exceeds the superblock time");
  if (f.max_dev_time > f.sb_time) f.violations.push_back("a device time exceeds the superblock time");
  if (f.data_block_size % 128 != 0 || f.data_block_size < 128 || f.data_block_size > 2097152)
    f.violations.push_back("illegal data block size");
  return f;
}

std::string generate(const PoolSpec& spec, uint64_t seed, PoolStats* stats = nullptr) {
  std::ostringstream os;
  PoolStats st = write_pool_xml(spec, seed, os);
  if (stats) *stats = st;
  return os.str();
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

// ================================================================ generator (no tools)

TEST(PoolGenerator, SameSeedSameBytesDifferentSeedDifferentPool) {
  PoolSpec spec = PoolSpec::small();
  EXPECT_EQ(generate(spec, 7), generate(spec, 7));
  EXPECT_NE(generate(spec, 7), generate(spec, 8));
  // FILE* and ostream outputs agree.
  std::string path = (fs::temp_directory_path() / ("thinsim-poolgen-" + std::to_string(::getpid()))).string();
  write_pool_xml_file(spec, 7, path);
  std::ifstream f(path, std::ios::binary);
  std::string from_file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fs::remove(path);
  EXPECT_EQ(from_file, generate(spec, 7));
}

// Pins the generator's output: the same seed must give the same XML on every machine and
// standard library. If the generator is changed on purpose, update the constants.
TEST(PoolGenerator, GoldenOutput) {
  Rng r(42);
  std::vector<uint64_t> draws;
  for (int i = 0; i < 6; ++i) draws.push_back(r.below(1000));
  draws.push_back(r.between(5, 9));
  draws.push_back(r.chance(0.5));
  EXPECT_EQ(draws, (std::vector<uint64_t>{406, 824, 450, 662, 381, 428, 6, 1}));
  std::string xml = generate(PoolSpec::small(), 42);
  std::string tiny = generate(random_spec(SpecProfile::tiny, 1), 1);
  std::cout << "small/42 fnv1a=" << fnv1a(xml) << " bytes=" << xml.size() << "; tiny/1 fnv1a=" << fnv1a(tiny)
            << std::endl;
  EXPECT_EQ(fnv1a(xml), 12825183095401140341ull) << "small/42 changed";
  EXPECT_EQ(fnv1a(tiny), 3532840595438334532ull) << "tiny/1 changed";
}

TEST(PoolGenerator, InvariantsHoldForManySeeds) {
  size_t sharing_over_two = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    PoolSpec spec = random_spec(SpecProfile::mixed, seed);
    PoolStats st;
    std::string xml = generate(spec, seed, &st);
    XmlFacts f = read_facts(xml);
    EXPECT_TRUE(f.violations.empty()) << "seed " << seed << ": " << f.violations.front();
    EXPECT_EQ(f.devices, spec.nr_devices);
    EXPECT_EQ(f.mappings, st.nr_mappings);
    EXPECT_EQ(f.nr_data_blocks, st.nr_data_blocks);
    for (const auto& [d, n] : f.data_refs)
      if (n > 2) {
        ++sharing_over_two;
        break;
      }
  }
  EXPECT_GT(sharing_over_two, 5u) << "too few pools share a data block among more than two mappings";
}

TEST(PoolGenerator, PresetsAreLegalAndShareBlocks) {
  for (const auto& name : preset_names()) {
    if (name == "one_million") continue;
    PoolSpec spec = preset_spec(name);
    PoolStats st;
    XmlFacts f = read_facts(generate(spec, 3, &st));
    EXPECT_TRUE(f.violations.empty()) << name << ": " << f.violations.front();
    if (name == "deep_sharing") {
      EXPECT_GE(st.max_depth, 3u);
      EXPECT_GT(st.nr_shared_mappings, st.nr_mappings / 3);
    }
    if (name == "huge_data") {
      EXPECT_GT(st.max_data_block, uint64_t{1} << 32);
      EXPECT_LT(spec.data_base, uint64_t{1} << 32) << "the data areas must straddle 2^32";
    }
    if (name == "large_ids") {
      EXPECT_GT(st.max_dev_id, uint64_t{1} << 20);
      EXPECT_GT(st.max_origin_block, uint64_t{1} << 40);
      EXPECT_GT(st.max_data_block, uint64_t{1} << 26);
      EXPECT_GT(f.sb_time, uint64_t{kMaxMappingTime});
    }
  }
}

TEST(PoolGenerator, RandomSpecsCoverEveryDataBlockSizeClass) {
  bool min = false, max = false, odd = false;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    PoolSpec s = random_spec(SpecProfile::tiny, seed);
    ASSERT_EQ(s.data_block_size % 128, 0u);
    ASSERT_GE(s.data_block_size, 128u);
    ASSERT_LE(s.data_block_size, 2097152u);
    min = min || s.data_block_size == 128;
    max = max || s.data_block_size == 2097152;
    odd = odd || (s.data_block_size & (s.data_block_size - 1)) != 0;
  }
  EXPECT_TRUE(min && max && odd);
  EXPECT_THROW(preset_spec("nope"), std::invalid_argument);
  PoolSpec bad;
  bad.data_block_size = 192;
  EXPECT_THROW(validate_spec(bad), std::invalid_argument);
  bad = PoolSpec{};
  bad.max_dev_id = kMaxThinId + 1;
  EXPECT_THROW(validate_spec(bad), std::invalid_argument);
}

TEST(PoolGenerator, OneMillionPresetStreams) {
  // Counts the bytes instead of keeping them: the generator must not need the pool in memory.
  struct CountingBuf : std::streambuf {
    uint64_t n = 0;
    std::streamsize xsputn(const char*, std::streamsize k) override {
      n += static_cast<uint64_t>(k);
      return k;
    }
    int overflow(int c) override {
      ++n;
      return c;
    }
  } buf;
  std::ostream os(&buf);
  auto t0 = std::chrono::steady_clock::now();
  PoolStats st = write_pool_xml(PoolSpec::one_million(), 1, os);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "one_million: " << st.nr_mappings << " mappings, " << st.nr_xml_mappings << " elements, "
            << st.xml_bytes << " bytes in " << secs << " s" << std::endl;
  EXPECT_EQ(buf.n, st.xml_bytes);
  EXPECT_GT(st.nr_mappings, 800000u);
  EXPECT_LT(st.nr_mappings, 1300000u);
}

// ================================================================ command runner

TEST(PeerTools, RunCommandReportsExitOutputsTimeoutsAndSpawnFailures) {
  auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.status(), "exit 3");

  RunOptions quick;
  quick.timeout = std::chrono::milliseconds(300);
  auto slow = run_command({"sleep", "20"}, quick);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_FALSE(slow.ok());
  EXPECT_LT(slow.seconds, 5.0);
  // A process that closes its outputs and keeps running still times out.
  auto closed = run_command({"sh", "-c", "exec >&- 2>&-; sleep 20"}, quick);
  EXPECT_TRUE(closed.timed_out);
  EXPECT_LT(closed.seconds, 5.0);

  auto missing = run_command({"/nonexistent/thin_check"});
  EXPECT_TRUE(missing.spawn_failed);
  EXPECT_FALSE(missing.ok());

  auto sig = run_command({"sh", "-c", "kill -SEGV $$"});
  EXPECT_FALSE(sig.exited);
  EXPECT_EQ(sig.term_signal, SIGSEGV);

  EXPECT_EQ(shell_join({"a b", "it's", "plain"}), "'a b' 'it'\\''s' plain");
}

// ================================================================ damage helpers

TEST(Damage, BitmapEntriesUseTheSwappedBitOrder) {
  BlockBytes b{};
  set_bitmap_entry(b, 0, 1);  // count 1 is stored as the low bit, i.e. bit 1 of the byte
  EXPECT_EQ(b[16], 0x2);
  set_bitmap_entry(b, 1, 2);  // count 2: high bit, i.e. bit 2 of the byte
  EXPECT_EQ(b[16], 0x6);
  set_bitmap_entry(b, 16319, 3);
  for (uint32_t i : {0u, 1u, 16319u}) EXPECT_EQ(bitmap_entry(b, i), i == 0 ? 1u : i == 1 ? 2u : 3u);
  set_bitmap_entry(b, 1, 0);
  EXPECT_EQ(bitmap_entry(b, 1), 0u);
  EXPECT_EQ(bitmap_entry(b, 0), 1u);
}

TEST(Damage, ClassifierFindsEveryStructureInAPeerImage) {
  auto peers = peers_or_fail();
  if (!peers) return;
  std::string dir = make_unique_dir(env_or("TMPDIR", "/tmp"), "thinsim-classify");
  std::string xml = dir + "/pool.xml", meta = dir + "/meta";
  PoolStats st = write_pool_xml_file(PoolSpec::deep_sharing(), 5, xml);
  { std::ofstream create(meta); }
  truncate_image(meta, metadata_size_for(st));
  auto r = run_command({peers->thin_restore, "-i", xml, "-o", meta});
  ASSERT_TRUE(r.ok()) << r.status() << r.err;
  ImageMap map = classify_image(meta);
  std::cout << map.summary() << std::endl;
  EXPECT_TRUE(map.problems.empty()) << map.problems.front();
  for (Structure s : {Structure::superblock, Structure::mapping_top, Structure::mapping_bottom,
                      Structure::device_details, Structure::data_space_index, Structure::data_ref_count,
                      Structure::metadata_ref_count, Structure::data_bitmap, Structure::metadata_bitmap,
                      Structure::metadata_index})
    EXPECT_FALSE(map.of(s).empty()) << structure_name(s);
  bool bottom_internal = false;
  for (const auto* c : map.of(Structure::mapping_bottom)) bottom_internal = bottom_internal || c->internal;
  EXPECT_TRUE(bottom_internal) << "no device with a multi-level mapping tree";
  EXPECT_GT(map.overflow_entries, 0u) << "no reference count above 2";

  // Every damage applies to this image and leaves the checksum state it promises.
  for (DamageKind k : all_damage_kinds()) {
    std::string img = dir + "/" + std::string(damage_name(k));
    copy_file(meta, img);
    Rng rng(derive_seed(5, static_cast<uint64_t>(k)));
    auto d = apply_damage(k, img, map, rng);
    ASSERT_TRUE(d.has_value()) << damage_name(k);
    if (k == DamageKind::cycle || k == DamageKind::ref_count_data || k == DamageKind::ref_count_metadata) {
      BlockBytes b = read_block(img, d->block);
      EXPECT_TRUE(thinsim::pdata::identify_block(b.data()).has_value())
          << damage_name(k) << ": checksum of block " << d->block << " not recomputed";
    }
  }
  remove_tree(dir);
}

TEST(Damage, ReportMatching) {
  Damage d;
  d.name_blocks = {17, 4};
  d.problem_pattern = "checksum|csum";
  d.problem_words = "a checksum error";
  std::string why;
  EXPECT_TRUE(report_names_damage(d, "block 17: bad CHECKSUM", why)) << why;
  EXPECT_FALSE(report_names_damage(d, "block 170: bad checksum", why));
  EXPECT_FALSE(report_names_damage(d, "block 17: keys out of order", why));
  EXPECT_TRUE(report_names_damage(d, "bad checksum in btree node (block 4)", why)) << why;
  EXPECT_FALSE(report_names_damage(d, "bad checksum somewhere\n4 fatal and 17 non-fatal problems", why));
  EXPECT_FALSE(report_names_damage(d, "block 9: fine\n17: bad checksum", why));
  d.name_blocks = {0};
  d.superblock_word_names_block0 = true;
  EXPECT_TRUE(report_names_damage(d, "superblock is corrupt: bad checksum", why)) << why;
}

// ================================================================ peer-only round trips

// The generator's XML is thin_dump's canonical form: thin_restore + thin_dump reproduce it
// byte for byte. Needs only the peer tools.
TEST(PeerRoundTrip, GeneratorEmitsCanonicalThinDumpXml) {
  auto peers = peers_or_fail();
  if (!peers) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, "");
  o.damage = false;
  run_random_cases(o, "mixed", 12);
}

TEST(PeerRoundTrip, PresetsRoundTrip) {
  auto peers = peers_or_fail();
  if (!peers) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, "");
  o.damage = false;
  for (const char* p : {"preset:deep_sharing", "preset:large_ids", "preset:big_trees"})
    run_fixed_case(o, seed_from_env().value_or(case_seed(0)), p);
}

// Each damage kind is detected by thin_check (except the ones 0.9.0 is known to miss):
// validates the damage helpers against the peer.
TEST(PeerRoundTrip, ThinCheckDetectsEachDamage) {
  auto peers = peers_or_fail();
  if (!peers) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, "");
  run_random_cases(o, "small", 2);
}

// ================================================================ thinsim vs the peer

// (a) thinsim restore -> thin_check passes and thin_dump reproduces the input.
TEST(Differential, ThinsimRestoreThenPeerCheckAndDump) {
  auto peers = peers_or_fail();
  auto thinsim = thinsim_or_fail();
  if (!peers || !thinsim) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, *thinsim);
  o.direction_b = false;
  o.damage = false;
  run_random_cases(o, "mixed", 10);
}

// (b) thin_restore -> thinsim check passes and thinsim dump == thin_dump.
TEST(Differential, PeerRestoreThenThinsimCheckAndDump) {
  auto peers = peers_or_fail();
  auto thinsim = thinsim_or_fail();
  if (!peers || !thinsim) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, *thinsim);
  o.direction_a = false;
  o.damage = false;
  run_random_cases(o, "mixed", 10);
}

// Damaged images (from thin_restore and from thinsim restore): thinsim check fails
// whenever thin_check fails, and names the block and the problem.
TEST(Differential, DamagedImages) {
  auto peers = peers_or_fail();
  auto thinsim = thinsim_or_fail();
  if (!peers || !thinsim) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, *thinsim);
  run_random_cases(o, "small", 5);
}

// Fixed seeds, every direction and the damage matrix: a regression baseline.
TEST(Differential, FixedSeedRegression) {
  auto peers = peers_or_fail();
  auto thinsim = thinsim_or_fail();
  if (!peers || !thinsim) return;
  PeerEnv env;
  EngineOptions o = env.options(*peers, *thinsim);
  o.check_variants = {""};  // the option variants run in DamagedImages
  run_fixed_case(o, 20240611, "small");
  run_fixed_case(o, 1, "preset:deep_sharing");
  run_fixed_case(o, 2, "preset:large_ids");
}
