// Tests of ContentPattern: every pattern is a function of the absolute device offset, so any
// sub-range of a written range checks against the same pattern; mismatches are reported at
// their absolute offset.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/content_pattern.h"
#include "harness/scenario_parser.h"

namespace thinsim::harness {
namespace {

std::vector<std::byte> filled(const ContentPattern& p, uint64_t offset, size_t n) {
  std::vector<std::byte> v(n);
  p.fill(offset, v);
  return v;
}

std::vector<std::byte> bytes(std::string_view s) {
  std::vector<std::byte> v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

// The patterns the tests below run over.
std::vector<ContentPattern> all_writable() {
  return {ContentPattern::zero(),
          ContentPattern::byte(0xab),
          ContentPattern::seed(0),
          ContentPattern::seed(7),
          ContentPattern::seed(UINT64_MAX),
          ContentPattern::text("x"),
          ContentPattern::text("abc"),
          ContentPattern::text("0123456789abcdef"),
          ContentPattern::text(std::string(4099, 'q') + "z")};
}

TEST(ScenarioPattern, KindsAndAccessors) {
  EXPECT_EQ(ContentPattern().kind(), ContentPattern::Kind::zero);
  EXPECT_EQ(ContentPattern::zero().kind(), ContentPattern::Kind::zero);
  auto b = ContentPattern::byte(0x5a);
  EXPECT_EQ(b.kind(), ContentPattern::Kind::byte);
  EXPECT_EQ(b.byte_value(), 0x5a);
  auto s = ContentPattern::seed(42);
  EXPECT_EQ(s.kind(), ContentPattern::Kind::seed);
  EXPECT_EQ(s.seed_value(), 42u);
  auto t = ContentPattern::text("hey");
  EXPECT_EQ(t.kind(), ContentPattern::Kind::text);
  EXPECT_EQ(t.text_value(), "hey");
  EXPECT_EQ(ContentPattern::undefined().kind(), ContentPattern::Kind::undefined);
  EXPECT_THROW(ContentPattern::text(""), std::invalid_argument);

  EXPECT_EQ(ContentPattern::seed(1), ContentPattern::seed(1));
  EXPECT_NE(ContentPattern::seed(1), ContentPattern::seed(2));
  EXPECT_NE(ContentPattern::byte(0), ContentPattern::zero());
  EXPECT_NE(ContentPattern::text("a"), ContentPattern::text("b"));
}

TEST(ScenarioPattern, ZeroAndByte) {
  auto z = filled(ContentPattern::zero(), 12345, 1000);
  for (auto b : z) ASSERT_EQ(b, std::byte{0});
  auto x = filled(ContentPattern::byte(0xab), 7, 1000);
  for (auto b : x) ASSERT_EQ(b, std::byte{0xab});
  EXPECT_EQ(ContentPattern::byte(0xab).at(UINT64_MAX), std::byte{0xab});
  EXPECT_EQ(ContentPattern::zero().at(99), std::byte{0});
}

TEST(ScenarioPattern, SeedIsSplitMix64LittleEndian) {
  // Published first outputs of SplitMix64 seeded with 0.
  EXPECT_EQ(splitmix64_at(0, 0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(splitmix64_at(0, 1), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(splitmix64_at(0, 2), 0x06c45d188009454full);
  auto p = ContentPattern::seed(0);
  auto v = filled(p, 0, 24);
  for (size_t i = 0; i < 24; ++i)
    EXPECT_EQ(v[i], static_cast<std::byte>(splitmix64_at(0, i / 8) >> (8 * (i % 8)))) << i;
  EXPECT_EQ(v[0], std::byte{0xaf});
  EXPECT_EQ(v[7], std::byte{0xe2});
  EXPECT_EQ(v[8], std::byte{0xf4});
  // A different seed gives different data.
  EXPECT_NE(filled(ContentPattern::seed(1), 0, 4096), filled(p, 0, 4096));
  EXPECT_NE(filled(ContentPattern::seed(7), 0, 4096), filled(ContentPattern::seed(7), 4096, 4096));
}

TEST(ScenarioPattern, SeedLooksRandom) {
  // Every byte value shows up with roughly equal frequency over 1 MiB.
  auto v = filled(ContentPattern::seed(7), 0, 1 << 20);
  std::vector<size_t> counts(256);
  for (auto b : v) counts[static_cast<size_t>(b)]++;
  for (size_t c : counts) {
    EXPECT_GT(c, 3600u);
    EXPECT_LT(c, 4600u);
  }
}

TEST(ScenarioPattern, TextIsAlignedToTheAbsoluteOffset) {
  auto p = ContentPattern::text("abc");
  auto as_string = [](const std::vector<std::byte>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
  };
  EXPECT_EQ(as_string(filled(p, 0, 8)), "abcabcab");
  EXPECT_EQ(as_string(filled(p, 1, 7)), "bcabcab");
  EXPECT_EQ(as_string(filled(p, 4, 4)), "bcab");
  EXPECT_EQ(as_string(filled(p, 3000, 3)), "abc");  // 3000 % 3 == 0
  EXPECT_EQ(as_string(filled(p, 512, 3)), "cab");   // 512 % 3 == 2
  EXPECT_EQ(as_string(filled(ContentPattern::text("x"), 99, 3)), "xxx");
  EXPECT_EQ(p.at(5), std::byte{'c'});
}

// The central property: the bytes at an offset do not depend on where a range starts.
TEST(ScenarioPattern, SubRangesAgreeWithTheWholeRange) {
  std::mt19937_64 rng(1);
  for (const auto& p : all_writable()) {
    SCOPED_TRACE(p.to_string());
    const uint64_t base = 1 << 20;
    auto whole = filled(p, base, 1 << 16);
    for (int i = 0; i < 300; ++i) {
      size_t off = rng() % whole.size();
      size_t len = rng() % (whole.size() - off + 1);
      auto part = filled(p, base + off, len);
      ASSERT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + static_cast<long>(off)))
          << "offset " << off << " length " << len;
      ASSERT_TRUE(p.matches(base + off, std::span<const std::byte>(whole).subspan(off, len)));
      if (len > 0) {
        ASSERT_EQ(p.at(base + off), whole[off]);
      }
    }
    // And the same at sector granularity, as the executor uses it: write 1M, read 4K at 4K.
    auto mib = filled(p, 0, 1 << 20);
    EXPECT_TRUE(p.matches(4096, std::span<const std::byte>(mib).subspan(4096, 4096)));
  }
}

TEST(ScenarioPattern, AtAgreesWithFillEverywhereIncludingTheWrapAround) {
  std::mt19937_64 rng(2);
  for (const auto& p : all_writable()) {
    SCOPED_TRACE(p.to_string());
    for (uint64_t start : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 40, UINT64_MAX - 100,
                           UINT64_MAX - 7, UINT64_MAX, rng(), rng()}) {
      auto v = filled(p, start, 300);
      for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], p.at(start + i)) << start << "+" << i;
    }
  }
}

TEST(ScenarioPattern, FirstMismatchIsAbsolute) {
  for (const auto& p : all_writable()) {
    SCOPED_TRACE(p.to_string());
    const uint64_t offset = 1000000;
    auto v = filled(p, offset, 10000);
    EXPECT_FALSE(p.first_mismatch(offset, v));
    ContentPattern::Mismatch m{1, std::byte{1}, std::byte{1}};
    EXPECT_TRUE(p.matches(offset, v, &m));
    EXPECT_EQ(m.offset, 1u);  // untouched on success

    for (size_t bad : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{9999}}) {
      auto w = v;
      std::byte expected = w[bad];
      w[bad] ^= std::byte{0x10};
      if (bad + 1 < w.size()) w[w.size() - 1] ^= std::byte{0x01};  // a later one too
      auto mm = p.first_mismatch(offset, w);
      ASSERT_TRUE(mm) << bad;
      EXPECT_EQ(mm->offset, offset + bad);
      EXPECT_EQ(mm->expected, expected);
      EXPECT_EQ(mm->actual, expected ^ std::byte{0x10});
      EXPECT_FALSE(p.matches(offset, w, &m));
      EXPECT_EQ(m.offset, offset + bad);
    }
    EXPECT_FALSE(p.first_mismatch(offset, std::span<const std::byte>()));
  }
}

TEST(ScenarioPattern, ContentFromAnotherPatternOrOffsetMismatches) {
  auto v = filled(ContentPattern::seed(7), 4096, 4096);
  EXPECT_TRUE(ContentPattern::seed(7).matches(4096, v));
  EXPECT_FALSE(ContentPattern::seed(7).matches(0, v));
  EXPECT_FALSE(ContentPattern::seed(8).matches(4096, v));
  EXPECT_FALSE(ContentPattern::zero().matches(4096, v));
  auto t = filled(ContentPattern::text("abcd"), 0, 16);
  EXPECT_FALSE(ContentPattern::text("abcd").matches(1, t));
  EXPECT_TRUE(ContentPattern::text("abcd").matches(4, t));
  auto m = ContentPattern::text("abcd").first_mismatch(1, t);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->offset, 1u);
  EXPECT_EQ(m->expected, std::byte{'b'});
  EXPECT_EQ(m->actual, std::byte{'a'});
}

TEST(ScenarioPattern, UndefinedMatchesAnythingAndCannotBeWritten) {
  auto u = ContentPattern::undefined();
  auto v = bytes("anything at all");
  EXPECT_TRUE(u.matches(0, v));
  EXPECT_TRUE(u.matches(UINT64_MAX, v));
  EXPECT_FALSE(u.first_mismatch(5, v));
  std::vector<std::byte> out(8);
  EXPECT_THROW(u.fill(0, out), std::logic_error);
}

TEST(ScenarioPattern, ToStringAndDescribe) {
  EXPECT_EQ(ContentPattern::zero().to_string(), "zero");
  EXPECT_EQ(ContentPattern::byte(0xab).to_string(), "byte:0xab");
  EXPECT_EQ(ContentPattern::byte(5).to_string(), "byte:0x05");
  EXPECT_EQ(ContentPattern::seed(7).to_string(), "seed:7");
  EXPECT_EQ(ContentPattern::seed(UINT64_MAX).to_string(), "seed:18446744073709551615");
  EXPECT_EQ(ContentPattern::text("a\"b\\c").to_string(), "text:\"a\\\"b\\\\c\"");
  EXPECT_EQ(ContentPattern::undefined().to_string(), "undefined");
  EXPECT_EQ(ContentPattern::seed(7).describe({4100, std::byte{0x3c}, std::byte{0}}),
            "at byte 4100 expected 0x3c, got 0x00 (pattern seed:7)");
}

TEST(ScenarioPattern, SpellingsParseBackToTheSamePattern) {
  auto patterns = all_writable();
  patterns.push_back(ContentPattern::text("a\"b\\c # d"));
  patterns.push_back(ContentPattern::byte(0));
  for (const auto& p : patterns) {
    Scenario s = parse_scenario("write t 0 4K " + p.to_string() + "\nread t 0 4K expect " +
                                p.to_string() + "\ndisk d 1M fill=" + p.to_string() + "\n");
    EXPECT_EQ(s.commands[0].as<WriteCmd>().pattern, p);
    EXPECT_EQ(std::get<ExpectContent>(s.commands[1].expect->body).pattern, p);
    EXPECT_EQ(s.commands[2].as<DiskCmd>().fill, p);
  }
  Scenario u = parse_scenario("read t 0 4K expect undefined");
  EXPECT_EQ(std::get<ExpectContent>(u.commands[0].expect->body).pattern,
            ContentPattern::undefined());
}

TEST(ScenarioPattern, WriteThenReadSubRangeScenario) {
  // The example from the language reference: a 4K read inside a 1M write checks out.
  Scenario s = parse_scenario("write t 0 1M seed:7\nread t 4K 4K expect seed:7\n");
  const auto& w = s.commands[0].as<WriteCmd>();
  const auto& r = s.commands[1].as<ReadCmd>();
  std::vector<std::byte> device(w.nr_sectors * 512);
  w.pattern.fill(w.sector * 512, device);
  auto got = std::span<const std::byte>(device).subspan(r.sector * 512, r.nr_sectors * 512);
  EXPECT_TRUE(
      std::get<ExpectContent>(s.commands[1].expect->body).pattern.matches(r.sector * 512, got));
}

}  // namespace
}  // namespace thinsim::harness
