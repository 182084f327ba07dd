// The model of thin_restore 0.9.0's reference-count btree defect (peer_defects.h), checked
// against the real thin_restore, and the engine's handling of a case that hits it.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "peer/external_command.h"
#include "peer/peer_tools.h"
#include "tests/peer/differential.h"
#include "tests/peer/peer_defects.h"
#include "tests/peer/pool_generator.h"
#include "tests/peer/thinsim_binary.h"

namespace fs = std::filesystem;
using namespace thinsim::peer;

namespace {

// A pool XML in which device i maps origin 0.. to devices[i], one block per mapping.
std::string pool_xml(const std::vector<std::vector<uint64_t>>& devices) {
  std::ostringstream s;
  s << "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"1\" data_block_size=\"128\""
       " nr_data_blocks=\"100000\">\n";
  for (size_t d = 0; d < devices.size(); ++d) {
    s << "  <device dev_id=\"" << d << "\" mapped_blocks=\"" << devices[d].size()
      << "\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n";
    for (size_t o = 0; o < devices[d].size(); ++o)
      s << "    <single_mapping origin_block=\"" << o << "\" data_block=\"" << devices[d][o] << "\" time=\"0\"/>\n";
    s << "  </device>\n";
  }
  s << "</superblock>\n";
  return s.str();
}

ThinRestoreRefCountTree model_of(const std::string& xml) {
  std::istringstream in(xml);
  return replay_thin_restore_ref_counts(in);
}

struct Workdir {
  fs::path dir = make_unique_dir(fs::temp_directory_path().string(), "thinsim-peer-defect");
  ~Workdir() { remove_tree(dir.string()); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = (dir / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string image(const std::string& name) const {
    std::string p = (dir / name).string();
    std::ofstream f(p, std::ios::binary);
    f.close();
    fs::resize_file(p, 8u << 20);
    return p;
  }
};

// Three devices share ascending blocks from 10000, with keys below every other key mixed
// in; a fourth maps those low keys again, which makes thin_restore look them up. Mode 0
// puts the lowest key of all near the 337th entry (the root leaf's split), mode 1 fills
// the leftmost leaf after that split with descending keys and then adds the lowest key
// (a sibling split), mode 2 scatters descending keys.
std::vector<std::vector<uint64_t>> sharing_case(uint64_t seed) {
  uint64_t r = seed;
  auto next = [&r](uint64_t n) { return (r = mix64(r + 0x9e3779b97f4a7c15ULL)) % n; };
  std::vector<uint64_t> seq, low;
  uint64_t ascending = 10000, descending = 9999;
  auto up = [&](size_t n) {
    for (size_t k = 0; k < n; ++k) seq.push_back(ascending++);
  };
  auto down = [&](uint64_t key) { low.push_back(key), seq.push_back(key); };
  switch (seed % 3) {
    case 0:
      up(334 + next(5));
      down(1);
      up(next(300));
      break;
    case 1:
      up(400 + next(100));
      for (size_t n = 166 + next(5); n > 0; --n) down(descending--);
      down(1);
      up(next(100));
      break;
    default:
      for (size_t i = 300 + next(450); i > 0; --i) {
        if (next(40) == 0) down(descending--);
        up(1);
      }
      break;
  }
  return {seq, seq, seq, low};
}

// The peer tools and the thinsim binary, or a test failure naming what is missing.
void locate_tools(PeerTools& peers, std::string& thinsim) {
  try {
    peers = locate_peer_tools();
    thinsim = locate_thinsim();
  } catch (const ToolMissing& e) {
    FAIL() << e.what();
  }
}

}  // namespace

// The exact shape: 336 entries fill the root leaf; the 337th, below every key, is lost.
TEST(ThinRestoreDefect, ModelPredictsTheRootSplitLoss) {
  for (size_t a : {331u, 332u, 333u}) {
    std::vector<uint64_t> seq;
    for (uint64_t k = 1000; k < 1000 + a; ++k) seq.push_back(k);
    seq.insert(seq.end(), {500, 3000, 3001, 3002, 400});
    auto m = model_of(pool_xml({seq, seq, seq, {400}}));
    if (a == 332) {
      ASSERT_EQ(m.outcome(), ThinRestoreRefCountTree::Outcome::loses_ref_count) << a;
      EXPECT_EQ(m.lost_block(), 400u);
      EXPECT_NE(m.describe().find("data block 400"), std::string::npos) << m.describe();
    } else {
      EXPECT_EQ(m.outcome(), ThinRestoreRefCountTree::Outcome::restores) << a << ": " << m.describe();
    }
  }
}

// The model against the real thin_restore over many sharing patterns (root splits and
// sibling splits of the leftmost leaf): it predicts the failure exactly.
TEST(ThinRestoreDefect, ModelAgreesWithThinRestore) {
  PeerTools peers;
  try {
    peers = locate_peer_tools();
  } catch (const ToolMissing& e) {
    FAIL() << e.what();
  }
  Workdir w;
  size_t lost = 0, kept = 0;
  std::string lost_seeds;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::string xml = pool_xml(sharing_case(seed));
    auto m = model_of(xml);
    ASSERT_NE(m.outcome(), ThinRestoreRefCountTree::Outcome::beyond_model);
    std::string in = w.write("pool.xml", xml), meta = w.image("pool.meta");
    auto r = run_command({peers.thin_restore, "-i", in, "-o", meta});
    bool peer_lost = !r.ok() && (r.err + r.out).find("ref count not in tree") != std::string::npos;
    if (!peer_lost) {
      ASSERT_TRUE(r.ok()) << "seed " << seed << ": " << r.status() << " " << r.err;
    }
    EXPECT_EQ(m.outcome() == ThinRestoreRefCountTree::Outcome::loses_ref_count, peer_lost)
        << "seed " << seed << ": " << m.describe();
    (peer_lost ? lost : kept) += 1;
    if (peer_lost) lost_seeds += " " + std::to_string(seed);
  }
  std::cout << "[peer] thin_restore lost a reference count in " << lost << " of " << lost + kept << " cases (seeds" << lost_seeds << "; seed % 3 is the mode)"
            << std::endl;
  // Both outcomes occur, or the comparison says nothing.
  EXPECT_GT(lost, 3u);
  EXPECT_GT(kept, 3u);
}

// thinsim, like the kernel, keeps the lowered key: its restore of the same XML passes
// thin_check and thin_dump shows every mapping.
TEST(ThinRestoreDefect, ThinsimRestoresWhatThinRestoreCannot) {
  PeerTools peers;
  std::string thinsim;
  ASSERT_NO_FATAL_FAILURE(locate_tools(peers, thinsim));
  std::vector<uint64_t> seq;
  for (uint64_t k = 1000; k < 1332; ++k) seq.push_back(k);
  seq.insert(seq.end(), {500, 3000, 3001, 3002, 400});
  Workdir w;
  std::string in = w.write("pool.xml", pool_xml({seq, seq, seq, {400}}));
  std::string peer_meta = w.image("peer.meta"), ours = w.image("thinsim.meta");
  auto pr = run_command({peers.thin_restore, "-i", in, "-o", peer_meta});
  EXPECT_FALSE(pr.ok()) << "thin_restore no longer has the defect; peer_defects.h is out of date";
  EXPECT_NE((pr.err + pr.out).find("ref count not in tree"), std::string::npos) << pr.err;
  auto tr = run_command({thinsim, "restore", "-i", in, "-o", ours});
  ASSERT_TRUE(tr.ok()) << tr.status() << " " << tr.err;
  auto ck = run_command({peers.thin_check, ours});
  EXPECT_TRUE(ck.ok()) << ck.status() << " " << ck.err;
  auto dp = run_command({peers.thin_dump, ours});
  ASSERT_TRUE(dp.ok()) << dp.status() << " " << dp.err;
  for (const char* want : {"mapped_blocks=\"337\"", "mapped_blocks=\"1\"", "data_block=\"400\""})
    EXPECT_NE(dp.out.find(want), std::string::npos) << want;
}

// The engine records a case that hits the defect as a note, not a failure, and still checks
// the XML through thinsim's restore (the seed that failed CI on 2026-12-02).
TEST(ThinRestoreDefect, EngineTreatsItAsAKnownPeerDefect) {
  PeerTools peers;
  std::string thinsim;
  ASSERT_NO_FATAL_FAILURE(locate_tools(peers, thinsim));
  Workdir w;
  EngineOptions o;
  o.peers = peers;
  o.thinsim = thinsim;
  o.work_root = w.dir.string();
  o.damage = false;
  o.direction_b = false;
  CaseResult r = run_case(o, 5077053684682543296ULL, "mixed");
  EXPECT_TRUE(r.passed()) << r.failure_report();
  bool seen = false;
  for (const auto& c : r.checks) {
    if (c.name == "peer.thin_restore") {
      seen = true;
      EXPECT_EQ(c.status, CheckStatus::not_applicable);
      EXPECT_NE(c.message.find("known peer defect"), std::string::npos) << c.message;
    }
    if (c.name.rfind("a.", 0) == 0) {
      EXPECT_EQ(c.status, CheckStatus::pass) << c.name << ": " << c.message;
    }
  }
  EXPECT_TRUE(seen);
}
