// Tests of the scenario language front end: lexer, parser, AST printing and the limits on
// hostile input. Every error test checks the whole "FILE:LINE:COLUMN: problem" location.
#include "harness/scenario_parser.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness/scenario_lexer.h"

namespace thinsim::harness {
namespace {

using namespace std::chrono_literals;

constexpr const char* kFile = "t.scn";

Scenario parse(std::string_view text) { return parse_scenario(text, kFile); }

// Parses a one-command text.
Command one(std::string_view text) {
  Scenario s = parse(text);
  if (s.commands.size() != 1) {
    ADD_FAILURE() << "expected one command in: " << text;
    return Command{};
  }
  return s.commands[0];
}

// The parse must fail at exactly line:column with exactly `problem`.
testing::AssertionResult fails_at(std::string_view text, uint32_t line, uint32_t column,
                                  std::string_view problem, const ParseOptions& options = {}) {
  try {
    parse_scenario(text, kFile, options);
  } catch (const ScenarioError& e) {
    std::string want = std::string(kFile) + ":" + std::to_string(line) + ":" +
                       std::to_string(column) + ": " + std::string(problem);
    if (e.what() != want)
      return testing::AssertionFailure() << "\n  got:  " << e.what() << "\n  want: " << want;
    if (e.location().file != kFile || e.location().line != line || e.location().column != column ||
        e.problem() != problem)
      return testing::AssertionFailure() << "location()/problem() disagree with what()";
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "parsed without error: " << text;
}

// As fails_at for a one-line text, with the column where `at` first occurs in it.
testing::AssertionResult fails_on(std::string_view text, std::string_view at,
                                  std::string_view problem) {
  size_t pos = text.find(at);
  if (pos == std::string_view::npos)
    return testing::AssertionFailure() << "test bug: " << at << " not in " << text;
  return fails_at(text, 1, static_cast<uint32_t>(pos + 1), problem);
}

// ------------------------------------------------------------------------------------------
// Lexer

TEST(ScenarioLexer, WordsStringsAndAttachedStrings) {
  auto t = lex_line("  write\tt  text:\"a b\" \"x\\\"y\\\\z\" mode=\"rw\" # \"comment", "f", 1);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].word, "write");
  EXPECT_FALSE(t[0].quoted);
  EXPECT_EQ(t[0].column, 3u);
  EXPECT_EQ(t[0].end_column, 8u);
  EXPECT_TRUE(t[0].is_word());
  EXPECT_TRUE(t[0].is("write"));
  EXPECT_EQ(t[1].word, "t");
  EXPECT_EQ(t[1].column, 9u);
  EXPECT_EQ(t[2].word, "text:");
  EXPECT_EQ(t[2].quoted, "a b");
  EXPECT_FALSE(t[2].is_string());
  EXPECT_EQ(t[2].column, 12u);
  EXPECT_EQ(t[2].end_column, 22u);
  EXPECT_TRUE(t[3].is_string());
  EXPECT_EQ(*t[3].quoted, "x\"y\\z");
  EXPECT_FALSE(t[3].is("x\"y\\z"));  // keywords are bare words only
  EXPECT_EQ(t[3].spelling(), "\"x\\\"y\\\\z\"");
  EXPECT_EQ(t[4].word, "mode=");
  EXPECT_EQ(t[4].quoted, "rw");
}

TEST(ScenarioLexer, CommentsAndEmptyStrings) {
  EXPECT_TRUE(lex_line("", "f", 1).empty());
  EXPECT_TRUE(lex_line("   \t ", "f", 1).empty());
  EXPECT_TRUE(lex_line("# all comment \"unterminated", "f", 1).empty());
  auto t = lex_line("a#b \"#\"", "f", 1);  // # ends a bare word
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].word, "a");
  t = lex_line("\"\" \"#\"#c", "f", 1);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(*t[0].quoted, "");
  EXPECT_EQ(*t[1].quoted, "#");
}

TEST(ScenarioLexer, Errors) {
  EXPECT_TRUE(fails_on("message p 0 \"create_thin 0", "\"", "unterminated string (no closing \")"));
  EXPECT_TRUE(fails_on("message p 0 \"abc\\", "\"", "unterminated string (no closing \")"));
  EXPECT_TRUE(fails_on("message p 0 \"a\\nb\"", "\\n",
                       "unknown escape \\n in string (only \\\" and \\\\ are allowed)"));
  EXPECT_TRUE(fails_on("message p 0 \"ab\"cd", "cd",
                       "unexpected \"c\" right after a closing quote (separate tokens with a "
                       "blank)"));
  EXPECT_TRUE(fails_on("message p 0 \"ab\"\"cd\"", "\"cd",
                       "unexpected \"\\\"\" right after a closing quote (separate tokens with a "
                       "blank)"));
  EXPECT_TRUE(fails_at("message p 0 \"a\rb\"", 1, 15, "unexpected control character 0x0d"));
  EXPECT_TRUE(fails_at("message p 0 \"a\x7f\"", 1, 15, "unexpected control character 0x7f"));
  // Control characters are fine in comments.
  EXPECT_TRUE(parse("# \x01\x02\x7f\n").commands.empty());
}

TEST(ScenarioLexer, QuoteForMessageEscapesAndTruncates) {
  EXPECT_EQ(quote_for_message("a\"b\\c\x01\xff"), "\"a\\\"b\\\\c\\x01\\xff\"");
  std::string msg = quote_for_message(std::string(1000, 'x'));
  EXPECT_EQ(msg, "\"" + std::string(60, 'x') + "...\"");
}

// ------------------------------------------------------------------------------------------
// Lines, locations, the scenario

TEST(ScenarioParser, EmptyCommentsBlankLinesAndLineEndings) {
  EXPECT_TRUE(parse("").commands.empty());
  EXPECT_TRUE(parse("\n\n# comment\n   \t\n").commands.empty());
  Scenario s = parse_scenario("# header\r\n\r\n  resume a   # trailing\r\n\tremove b", "x/y.scn");
  EXPECT_EQ(s.file, "x/y.scn");
  ASSERT_EQ(s.commands.size(), 2u);
  EXPECT_EQ(s.commands[0].location, (SourceLocation{"x/y.scn", 3, 3}));
  EXPECT_EQ(s.commands[0].kind(), CommandKind::resume);
  EXPECT_EQ(s.commands[0].as<ResumeCmd>().name, "a");
  EXPECT_EQ(s.commands[1].location, (SourceLocation{"x/y.scn", 4, 2}));
  EXPECT_EQ(s.commands[1].as<RemoveCmd>().name, "b");
  EXPECT_FALSE(s.commands[0].expect);
}

TEST(ScenarioParser, DefaultFileName) {
  try {
    parse_scenario("bogus");
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_STREQ(e.what(), "<string>:1:1: unknown command \"bogus\"");
  }
}

TEST(ScenarioParser, ErrorOnLaterLineHasItsLineNumber) {
  EXPECT_TRUE(fails_at("resume a\n\n# c\n  wrte t 0 4K zero\n", 4, 3,
                       "unknown command \"wrte\" (did you mean write?)"));
}

TEST(ScenarioParser, SourceLocationToString) {
  EXPECT_EQ(to_string(SourceLocation{"a.scn", 3, 7}), "a.scn:3:7");
  EXPECT_EQ(to_string(SourceLocation{"a.scn", 0, 0}), "a.scn");
}

TEST(ScenarioParser, CommandNames) {
  EXPECT_EQ(command_name(CommandKind::disk), "disk");
  EXPECT_EQ(command_name(CommandKind::discard), "discard");
  EXPECT_EQ(command_name(CommandKind::event), "event");
  EXPECT_EQ(one("sleep 1s").kind(), CommandKind::sleep);
}

// ------------------------------------------------------------------------------------------
// Commands

TEST(ScenarioParser, Disk) {
  Command c = one("disk meta 4M");
  ASSERT_EQ(c.kind(), CommandKind::disk);
  const auto& d = c.as<DiskCmd>();
  EXPECT_EQ(d.name, "meta");
  EXPECT_EQ(d.size_sectors, 8192u);
  EXPECT_EQ(d.fill, ContentPattern::zero());

  EXPECT_EQ(one("disk d 1024").as<DiskCmd>().size_sectors, 2u);
  EXPECT_EQ(one("disk d 0").as<DiskCmd>().size_sectors, 0u);
  EXPECT_EQ(one("disk d 7s").as<DiskCmd>().size_sectors, 7u);
  EXPECT_EQ(one("disk d 3K").as<DiskCmd>().size_sectors, 6u);
  EXPECT_EQ(one("disk d 2G").as<DiskCmd>().size_sectors, 2u << 21);
  EXPECT_EQ(one("disk d 5T").as<DiskCmd>().size_sectors, uint64_t{5} << 31);
  EXPECT_EQ(one("disk d 007M").as<DiskCmd>().size_sectors, 7u * 2048);

  EXPECT_EQ(one("disk origin 1M fill=seed:7").as<DiskCmd>().fill, ContentPattern::seed(7));
  EXPECT_EQ(one("disk origin 1M fill=byte:0xAB").as<DiskCmd>().fill, ContentPattern::byte(0xab));
  EXPECT_EQ(one("disk origin 1M fill=zero").as<DiskCmd>().fill, ContentPattern::zero());
  EXPECT_EQ(one("disk origin 1M fill=text:\"hi there\"").as<DiskCmd>().fill,
            ContentPattern::text("hi there"));
  EXPECT_TRUE(one("disk d 1M expect ok").expect);
  EXPECT_EQ(one("disk d 1M expect error ENOMEM").expect->body,
            ExpectationBody(ExpectError{ENOMEM, std::nullopt}));
}

TEST(ScenarioParser, DiskErrors) {
  EXPECT_TRUE(fails_at("disk", 1, 5, "missing NAME (usage: disk NAME SIZE [fill=PATTERN])"));
  EXPECT_TRUE(fails_at("disk d", 1, 7, "missing SIZE (usage: disk NAME SIZE [fill=PATTERN])"));
  EXPECT_TRUE(fails_on("disk d expect ok", "expect",
                       "missing SIZE (usage: disk NAME SIZE [fill=PATTERN])"));
  EXPECT_TRUE(fails_on("disk d 1000", "1000",
                       "SIZE \"1000\" is not a multiple of 512 bytes (it must be whole sectors)"));
  EXPECT_TRUE(fails_on("disk d 1M fill=undefined", "undefined",
                       "undefined is only allowed in expectations (it has no bytes to write)"));
  EXPECT_TRUE(fails_at("disk d 1M fill=", 1, 16,
                       "unknown pattern \"\" (patterns: zero, byte:0xNN, seed:N, text:\"...\")"));
  EXPECT_TRUE(fails_on("disk d 1M zero", "zero",
                       "unexpected \"zero\" after the arguments of disk (usage: disk NAME SIZE "
                       "[fill=PATTERN])"));
  EXPECT_TRUE(fails_at("disk d 1M fill=zero fill=zero", 1, 21,
                       "unexpected \"fill=zero\" after the arguments of disk (usage: disk NAME "
                       "SIZE [fill=PATTERN])"));
}

TEST(ScenarioParser, Resize) {
  Command c = one("resize meta 16M");
  ASSERT_EQ(c.kind(), CommandKind::resize);
  EXPECT_EQ(c.as<ResizeCmd>().name, "meta");
  EXPECT_EQ(c.as<ResizeCmd>().size_sectors, 32768u);
  EXPECT_EQ(one("resize d 0").as<ResizeCmd>().size_sectors, 0u);
  EXPECT_EQ(one("resize pool 1G expect error EINVAL").expect->body,
            ExpectationBody(ExpectError{EINVAL, std::nullopt}));
  EXPECT_EQ(to_text(c), "resize meta 32768s");
  EXPECT_TRUE(fails_at("resize d", 1, 9, "missing SIZE (usage: resize NAME SIZE)"));
  EXPECT_TRUE(fails_on("resize d 1M fill=zero", "fill=zero",
                       "unexpected \"fill=zero\" after the arguments of resize (usage: resize NAME SIZE)"));
  EXPECT_TRUE(fails_on("resize d 1M expect queued", "queued",
                       "expect queued cannot be used with resize (resize accepts: ok, error ERRNO [\"TEXT\"])"));
}

TEST(ScenarioParser, FaultAndCheck) {
  Command c = one("fault meta error write,flush after=2 count=1");
  ASSERT_EQ(c.kind(), CommandKind::fault);
  const auto& f = c.as<FaultCmd>();
  EXPECT_EQ(f.name, "meta");
  ASSERT_TRUE(f.rule);
  EXPECT_EQ(f.rule->ops, unsigned(fault::kWrite | fault::kFlush));
  EXPECT_EQ(f.rule->after, 2u);
  EXPECT_EQ(f.rule->count, 1u);
  EXPECT_EQ(to_text(c), "fault meta error write,flush after=2 count=1");
  EXPECT_EQ(one("fault d error any").as<FaultCmd>().rule->ops, unsigned(fault::kAnyOp));
  EXPECT_EQ(one("fault d error read").as<FaultCmd>().rule->count, std::nullopt);
  EXPECT_EQ(one("fault d clear").as<FaultCmd>().action, FaultAction::clear);
  EXPECT_EQ(to_text(one("fault d clear")), "fault d clear");

  EXPECT_TRUE(fails_on("fault d boom", "boom", "unknown fault \"boom\" (faults: error, bit-flip, latent-error, lost-writes, misdirected-writes, ignore-flush, clear)"));
  EXPECT_TRUE(fails_at("fault d error write,fsync", 1, 21,
                       "unknown operation \"fsync\" (operations: read, write, flush, discard, any; "
                       "several joined by commas)"));
  EXPECT_TRUE(fails_at("fault d error write count=0", 1, 27, "count must be at least 1"));
  EXPECT_TRUE(fails_at("fault d error write after=x", 1, 27, "bad after \"x\": expected a decimal number"));
  EXPECT_TRUE(fails_on("fault d error write count=1 count=2", "count=2", "count= is given twice"));
  EXPECT_TRUE(fails_on("fault d clear now", "now",
                       "unexpected \"now\" after the arguments of fault (usage: fault NAME error OPS "
                       "[after=N] [count=N] | fault NAME bit-flip OFFSET BIT | fault NAME latent-error "
                       "OFFSET [LENGTH] | fault NAME lost-writes N | fault NAME misdirected-writes N "
                       "[-]DELTA | fault NAME ignore-flush | fault NAME clear)"));

  Command k = one("check meta --clear-needs-check-flag expect error EUCLEAN");
  ASSERT_EQ(k.kind(), CommandKind::check);
  EXPECT_TRUE(k.as<CheckCmd>().clear_needs_check);
  EXPECT_EQ(k.expect->body, ExpectationBody(ExpectError{EUCLEAN, std::nullopt}));
  EXPECT_FALSE(one("check meta").as<CheckCmd>().clear_needs_check);
}

TEST(ScenarioParser, MediaFaults) {
  Command b = one("fault meta bit-flip 4K 7");
  const auto& f = b.as<FaultCmd>();
  EXPECT_EQ(f.action, FaultAction::bit_flip);
  EXPECT_EQ(f.sector, 8u);
  EXPECT_EQ(f.count, 7u);
  EXPECT_EQ(to_text(b), "fault meta bit-flip 8s 7");
  Command l = one("fault data latent-error 1M 8K expect ok");
  EXPECT_EQ(l.as<FaultCmd>().sector, 2048u);
  EXPECT_EQ(l.as<FaultCmd>().count, 16u);
  EXPECT_EQ(one("fault data latent-error 1M").as<FaultCmd>().count, 1u);
  EXPECT_EQ(to_text(one("fault data latent-error 1M")), "fault data latent-error 2048s 1s");
  EXPECT_EQ(one("fault d lost-writes 3").as<FaultCmd>().count, 3u);
  Command m = one("fault d misdirected-writes 2 -64K");
  EXPECT_EQ(m.as<FaultCmd>().action, FaultAction::misdirected_writes);
  EXPECT_EQ(m.as<FaultCmd>().delta_sectors, -128);
  EXPECT_EQ(to_text(m), "fault d misdirected-writes 2 -128s");
  EXPECT_EQ(one("fault d misdirected-writes 1 8s").as<FaultCmd>().delta_sectors, 8);
  EXPECT_EQ(one("fault d ignore-flush").as<FaultCmd>().action, FaultAction::ignore_flush);
  for (const char* text : {"fault meta bit-flip 8s 7", "fault data latent-error 2048s 16s", "fault d lost-writes 3",
                           "fault d misdirected-writes 2 -128s", "fault d ignore-flush"})
    EXPECT_EQ(to_text(one(text)), text);

  EXPECT_TRUE(fails_on("fault d bit-flip 0 4096", "4096", "BIT must be from 0 to 4095"));
  EXPECT_TRUE(fails_on("fault d bit-flip 100 1", "100",
                       "OFFSET \"100\" is not a multiple of 512 bytes (it must be whole sectors)"));
  EXPECT_TRUE(fails_on("fault d lost-writes 0", "0", "N must be from 1 to 4294967295"));
  EXPECT_TRUE(fails_on("fault d lost-writes many", "many", "bad N \"many\": expected a decimal number"));
  EXPECT_TRUE(fails_at("fault d misdirected-writes 1", 1, 29,
                       "missing DELTA (usage: fault NAME error OPS [after=N] [count=N] | fault NAME bit-flip "
                       "OFFSET BIT | fault NAME latent-error OFFSET [LENGTH] | fault NAME lost-writes N | "
                       "fault NAME misdirected-writes N [-]DELTA | fault NAME ignore-flush | fault NAME clear)"));
  EXPECT_TRUE(fails_on("fault d misdirected-writes 1 -0", "-0",
                       "DELTA \"-0\" must be a non-zero whole number of sectors"));
  EXPECT_TRUE(fails_at("fault d latent-error 0 0", 1, 24, "LENGTH must not be zero"));
}

TEST(ScenarioParser, Crash) {
  EXPECT_EQ(one("crash").as<CrashCmd>().keep, CrashKeep::none);
  EXPECT_EQ(one("crash keep=all").as<CrashCmd>().keep, CrashKeep::all);
  Command s = one("crash keep=seed:42");
  EXPECT_EQ(s.as<CrashCmd>().keep, CrashKeep::seeded);
  EXPECT_EQ(s.as<CrashCmd>().seed, 42u);
  for (const char* text : {"crash", "crash keep=all", "crash keep=seed:42"}) EXPECT_EQ(to_text(one(text)), text);
  EXPECT_EQ(to_text(one("crash keep=none")), "crash");
  EXPECT_TRUE(fails_on("crash now", "now", "unknown crash option \"now\" (keep=none, keep=all, keep=seed:N)"));
  EXPECT_TRUE(fails_on("crash keep=seed:x", "keep=seed:x",
                       "bad seed in \"keep=seed:x\": expected keep=seed:N, N a decimal number"));
  EXPECT_TRUE(fails_on("crash expect error EIO", "error", "expect error cannot be used with crash (crash accepts: ok)"));
  // IO in flight when the power goes is lost: its tag cannot be completed.
  EXPECT_TRUE(fails_at("write t 0 4K zero as w1\ncrash\ncomplete w1", 3, 10,
                       "the IO tagged \"w1\" was lost in the crash at line 2"));
}

TEST(ScenarioParser, SizeErrors) {
  EXPECT_TRUE(
      fails_on("disk d 12Q", "12Q",
               "bad SIZE \"12Q\": unknown unit \"Q\" (units: s = 512-byte sectors, K, M, G, "
               "T; none = bytes)"));
  EXPECT_TRUE(fails_on("disk d 4k", "4k",
                       "bad SIZE \"4k\": unknown unit \"k\" (units: s = 512-byte sectors, K, M, G, "
                       "T; none = bytes)"));
  EXPECT_TRUE(fails_on("disk d 4KB", "4KB",
                       "bad SIZE \"4KB\": unknown unit \"KB\" (units: s = 512-byte sectors, K, M, "
                       "G, T; none = bytes)"));
  EXPECT_TRUE(fails_at("disk d K", 1, 8,
                       "bad SIZE \"K\": expected a decimal number with an optional unit (s, K, M, "
                       "G, T)"));
  EXPECT_TRUE(fails_at("disk d -1", 1, 8,
                       "bad SIZE \"-1\": expected a decimal number with an optional unit (s, K, M, "
                       "G, T)"));
  EXPECT_TRUE(
      fails_at("disk d 0x10", 1, 8,
               "bad SIZE \"0x10\": unknown unit \"x10\" (units: s = 512-byte sectors, K, M, "
               "G, T; none = bytes)"));
  EXPECT_TRUE(fails_at("disk d \"4K\"", 1, 8,
                       "SIZE must be a bare word, not a quoted string (got \"\\\"4K\\\"\")"));
  // Overflow: of the number itself, and of number * unit.
  EXPECT_TRUE(fails_at("disk d 18446744073709551616", 1, 8,
                       "SIZE \"18446744073709551616\" is too large (the limit is 2^64-1 bytes)"));
  EXPECT_TRUE(fails_at("disk d 16777216T", 1, 8,
                       "SIZE \"16777216T\" is too large (the limit is 2^64-1 bytes)"));
  EXPECT_TRUE(fails_at("disk d 99999999999999999999999999999999999999s", 1, 8,
                       "SIZE \"99999999999999999999999999999999999999s\" is too large (the limit "
                       "is 2^64-1 bytes)"));
  // The largest whole-sector sizes still parse.
  EXPECT_EQ(one("disk d 16777215T").as<DiskCmd>().size_sectors, (uint64_t{16777215} << 40) / 512);
  EXPECT_EQ(one("disk d 36028797018963967s").as<DiskCmd>().size_sectors, 36028797018963967u);
  EXPECT_TRUE(fails_at("disk d 36028797018963968s", 1, 8,
                       "SIZE \"36028797018963968s\" is too large (the limit is 2^64-1 bytes)"));
}

TEST(ScenarioParser, Names) {
  EXPECT_EQ(one("resume a_b.c+d-e:f9").as<ResumeCmd>().name, "a_b.c+d-e:f9");
  EXPECT_EQ(one("resume _x").as<ResumeCmd>().name, "_x");
  EXPECT_EQ(one("resume 0").as<ResumeCmd>().name, "0");
  std::string longest(127, 'n');
  EXPECT_EQ(one("resume " + longest).as<ResumeCmd>().name, longest);
  EXPECT_TRUE(fails_at("resume " + longest + "n", 1, 8,
                       "NAME \"" + std::string(60, 'n') + "...\" is longer than 127 bytes"));
  const std::string bad =
      ": use letters, digits and _ . + - : (starting with a letter, digit or _)";
  EXPECT_TRUE(fails_on("resume a/b", "a/b", "bad NAME \"a/b\"" + bad));
  EXPECT_TRUE(fails_on("resume -a", "-a", "bad NAME \"-a\"" + bad));
  EXPECT_TRUE(fails_on("resume .a", ".a", "bad NAME \".a\"" + bad));
  EXPECT_TRUE(fails_on("resume \xc3\xa9", "\xc3", "bad NAME \"\\xc3\\xa9\"" + bad));
  EXPECT_TRUE(fails_on("status --noflush", "--", "bad NAME \"--noflush\"" + bad));
  EXPECT_TRUE(fails_on("resume \"pool\"", "\"",
                       "NAME must be a bare word, not a quoted string (got \"\\\"pool\\\"\")"));
  EXPECT_TRUE(fails_on("resume po\"ol\"", "po",
                       "NAME must be a bare word, not a quoted string (got \"po\\\"ol\\\"\")"));
}

TEST(ScenarioParser, CreateAndReload) {
  Command c = one("create pool \"0 2097152 thin-pool meta data 128 32768 1 skip_block_zeroing\"");
  ASSERT_EQ(c.kind(), CommandKind::create);
  const auto& cr = c.as<CreateCmd>();
  EXPECT_EQ(cr.name, "pool");
  EXPECT_EQ(cr.table.start, 0u);
  EXPECT_EQ(cr.table.length, 2097152u);
  EXPECT_EQ(cr.table.target, "thin-pool");
  EXPECT_EQ(cr.table.args,
            (std::vector<std::string>{"meta", "data", "128", "32768", "1", "skip_block_zeroing"}));
  EXPECT_EQ(cr.table.to_string(), "0 2097152 thin-pool meta data 128 32768 1 skip_block_zeroing");

  Command r = one("reload thin \"  0\t2097152   thin pool 1 origin  \" expect error EINVAL");
  ASSERT_EQ(r.kind(), CommandKind::reload);
  const auto& re = r.as<ReloadCmd>();
  EXPECT_EQ(re.name, "thin");
  EXPECT_EQ(re.table.target, "thin");
  EXPECT_EQ(re.table.args, (std::vector<std::string>{"pool", "1", "origin"}));
  ASSERT_TRUE(r.expect);

  // The parser leaves target validation (and start/length checks) to the executor.
  auto t = one("create x \"5 0 no-such-target\"").as<CreateCmd>().table;
  EXPECT_EQ(t.start, 5u);
  EXPECT_EQ(t.length, 0u);
  EXPECT_EQ(t.target, "no-such-target");
  EXPECT_TRUE(t.args.empty());
}

TEST(ScenarioParser, TableErrors) {
  const std::string usage = " (usage: create NAME \"TABLE\")";
  EXPECT_TRUE(fails_at("create pool", 1, 12, "missing TABLE" + usage));
  EXPECT_TRUE(fails_on("create pool 0 100 thin-pool m d 128 0", "0",
                       "the table must be one quoted string, as in create NAME \"0 2097152 thin "
                       "pool 1\""));
  EXPECT_TRUE(fails_on("reload t x\"0 1 thin p 1\"", "x",
                       "the table must be one quoted string, as in reload NAME \"0 2097152 thin "
                       "pool 1\""));
  EXPECT_TRUE(fails_on("create pool \"\"", "\"",
                       "empty table line (expected START LENGTH TARGET [ARGS...])"));
  EXPECT_TRUE(fails_on("create pool \"  \"", "\"",
                       "empty table line (expected START LENGTH TARGET [ARGS...])"));
  EXPECT_TRUE(fails_on("create pool \"0 100\"", "\"",
                       "table line \"0 100\" has no target type (expected START LENGTH TARGET "
                       "[ARGS...])"));
  EXPECT_TRUE(fails_on("create pool \"x 100 thin p 1\"", "\"",
                       "bad table start \"x\": expected a decimal number of sectors"));
  EXPECT_TRUE(fails_on("create pool \"0 1M thin p 1\"", "\"",
                       "bad table length \"1M\": expected a decimal number of sectors"));
  EXPECT_TRUE(fails_on("create pool \"0 -1 thin p 1\"", "\"",
                       "bad table length \"-1\": expected a decimal number of sectors"));
  EXPECT_TRUE(fails_on("create pool \"0 18446744073709551616 thin p 1\"", "\"",
                       "table length \"18446744073709551616\" is too large (the limit is "
                       "2^64-1)"));
  EXPECT_TRUE(fails_on("create pool \"0 1 thin p 1\" extra", "extra",
                       "unexpected \"extra\" after the arguments of create" + usage));
}

TEST(ScenarioParser, ParseTableLineDirectly) {
  TableLine t = parse_table_line("0 100 thin pool 1\n");
  EXPECT_EQ(t.length, 100u);
  EXPECT_EQ(t.args, (std::vector<std::string>{"pool", "1"}));
  EXPECT_EQ(parse_table_line("18446744073709551615 1 x").start, UINT64_MAX);
  try {
    parse_table_line("0 100");
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_STREQ(
        e.what(),
        "table line \"0 100\" has no target type (expected START LENGTH TARGET [ARGS...])");
  }
  try {
    parse_table_line("0 100 thin pool 1\n0 100 thin pool 2", SourceLocation{"f", 2, 9});
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_STREQ(e.what(), "f:2:9: a table has one target line here; this one has several");
  }
}

TEST(ScenarioParser, SuspendResumeRemove) {
  auto s = one("suspend pool").as<SuspendCmd>();
  EXPECT_EQ(s.name, "pool");
  EXPECT_FALSE(s.noflush);
  EXPECT_TRUE(one("suspend pool --noflush").as<SuspendCmd>().noflush);
  EXPECT_EQ(one("resume pool expect ok").kind(), CommandKind::resume);
  EXPECT_EQ(one("remove thin expect error EBUSY").as<RemoveCmd>().name, "thin");

  EXPECT_TRUE(fails_at("suspend", 1, 8, "missing NAME (usage: suspend NAME [--noflush])"));
  EXPECT_TRUE(fails_at("suspend p --noflush --noflush", 1, 21, "--noflush is given twice"));
  EXPECT_TRUE(fails_on("suspend p --nofush", "--nofush",
                       "unexpected \"--nofush\" after the arguments of suspend (usage: suspend "
                       "NAME [--noflush])"));
  EXPECT_TRUE(fails_on("resume p q", "q",
                       "unexpected \"q\" after the arguments of resume (usage: resume NAME)"));
  EXPECT_TRUE(fails_on("remove p --noflush", "--",
                       "unexpected \"--noflush\" after the arguments of remove (usage: remove "
                       "NAME)"));
  EXPECT_TRUE(fails_at("remove", 1, 7, "missing NAME (usage: remove NAME)"));
  EXPECT_TRUE(fails_on("resume expect ok", "expect", "missing NAME (usage: resume NAME)"));
}

TEST(ScenarioParser, Message) {
  Command c = one("message pool 0 \"create_snap 1 0\" expect error EEXIST");
  const auto& m = c.as<MessageCmd>();
  EXPECT_EQ(m.name, "pool");
  EXPECT_EQ(m.sector, 0u);
  EXPECT_EQ(m.text, "create_snap 1 0");
  EXPECT_EQ(one("message pool 18446744073709551615 \"\"").as<MessageCmd>().sector, UINT64_MAX);
  EXPECT_EQ(one("message pool 0 \"\"").as<MessageCmd>().text, "");
  EXPECT_EQ(one("message pool 0 \"a \\\"b\\\" \\\\\"").as<MessageCmd>().text, "a \"b\" \\");

  const std::string usage = " (usage: message NAME SECTOR \"MESSAGE\")";
  EXPECT_TRUE(fails_at("message pool", 1, 13, "missing SECTOR" + usage));
  EXPECT_TRUE(fails_at("message pool 0", 1, 15, "missing MESSAGE" + usage));
  EXPECT_TRUE(fails_on("message pool \"create_thin 0\"", "\"",
                       "SECTOR must be a bare word, not a quoted string (got \"\\\"create_thin "
                       "0\\\"\")"));
  EXPECT_TRUE(fails_on("message pool 0s \"x\"", "0s",
                       "bad SECTOR \"0s\": expected a decimal sector number (usually 0)"));
  EXPECT_TRUE(fails_on("message pool 18446744073709551616 \"x\"", "1844",
                       "SECTOR \"18446744073709551616\" is too large (the limit is 2^64-1)"));
  EXPECT_TRUE(fails_on("message pool 0 create_thin 0", "create",
                       "the message must be one quoted string, as in message pool 0 "
                       "\"create_thin 0\""));
  EXPECT_TRUE(fails_on("message pool 0 \"a\" \"b\"", "\"b",
                       "unexpected \"\\\"b\\\"\" after the arguments of message" + usage));
}

TEST(ScenarioParser, StatusAndTable) {
  auto s = one("status pool").as<StatusCmd>();
  EXPECT_EQ(s.name, "pool");
  EXPECT_FALSE(s.noflush);
  EXPECT_TRUE(one("status pool --noflush expect Fail").as<StatusCmd>().noflush);
  EXPECT_EQ(one("table pool").as<TableCmd>().name, "pool");
  EXPECT_TRUE(fails_on("table pool --noflush", "--",
                       "unexpected \"--noflush\" after the arguments of table (usage: table "
                       "NAME)"));
  EXPECT_TRUE(fails_at("status", 1, 7, "missing NAME (usage: status NAME [--noflush])"));
}

TEST(ScenarioParser, Write) {
  Command c = one("write thin 4K 1M seed:7");
  ASSERT_EQ(c.kind(), CommandKind::write);
  const auto& w = c.as<WriteCmd>();
  EXPECT_EQ(w.name, "thin");
  EXPECT_EQ(w.sector, 8u);
  EXPECT_EQ(w.nr_sectors, 2048u);
  EXPECT_EQ(w.pattern, ContentPattern::seed(7));
  EXPECT_FALSE(w.fua);
  EXPECT_FALSE(w.tag);

  auto f = one("write t 0 512 zero fua").as<WriteCmd>();
  EXPECT_EQ(f.nr_sectors, 1u);
  EXPECT_TRUE(f.fua);
  auto ft = one("write t 0 1s byte:171 fua as w1 expect queued").as<WriteCmd>();
  EXPECT_TRUE(ft.fua);
  EXPECT_EQ(ft.tag, "w1");
  EXPECT_EQ(ft.pattern, ContentPattern::byte(171));
  auto tf = one("write t 0 1s text:\"ab\" as w1 fua").as<WriteCmd>();  // either order
  EXPECT_TRUE(tf.fua);
  EXPECT_EQ(tf.tag, "w1");
  EXPECT_EQ(tf.pattern, ContentPattern::text("ab"));
}

TEST(ScenarioParser, WriteErrors) {
  const std::string usage = " (usage: write NAME OFFSET LENGTH PATTERN [fua] [as TAG])";
  EXPECT_TRUE(fails_at("write", 1, 6, "missing NAME" + usage));
  EXPECT_TRUE(fails_at("write t", 1, 8, "missing OFFSET" + usage));
  EXPECT_TRUE(fails_at("write t 0", 1, 10, "missing LENGTH" + usage));
  EXPECT_TRUE(fails_at("write t 0 4K", 1, 13, "missing PATTERN" + usage));
  EXPECT_TRUE(fails_at("write t 0 4K   # comment", 1, 13, "missing PATTERN" + usage));
  EXPECT_TRUE(fails_on("write t 0 4K expect ok", "expect", "missing PATTERN" + usage));
  EXPECT_TRUE(fails_at("write t 0 4K zero as", 1, 21,
                       "missing TAG (usage: write NAME OFFSET LENGTH PATTERN [fua] [as TAG])"));
  EXPECT_TRUE(fails_on("write t 0 4K zero as expect queued", "expect", "missing TAG" + usage));
  EXPECT_TRUE(fails_at("write t 0 4K zero fua fua", 1, 23, "fua is given twice"));
  EXPECT_TRUE(fails_at("write t 0 4K zero as a as b", 1, 24, "as TAG is given twice"));
  EXPECT_TRUE(fails_on("write t 0 4K zero as a/b", "a/b",
                       "bad TAG \"a/b\": use letters, digits and _ . + - : (starting with a "
                       "letter, digit or _)"));
  EXPECT_TRUE(fails_on("write t 0 4K zero FUA", "FUA",
                       "unexpected \"FUA\" after the arguments of write" + usage));
  EXPECT_TRUE(fails_on("write t 0 4K zero seed:1", "seed",
                       "unexpected \"seed:1\" after the arguments of write" + usage));
  EXPECT_TRUE(fails_on("write t 100 4K zero", "100",
                       "OFFSET \"100\" is not a multiple of 512 bytes (it must be whole "
                       "sectors)"));
  EXPECT_TRUE(fails_on("write t 0 4100 zero", "4100",
                       "LENGTH \"4100\" is not a multiple of 512 bytes (it must be whole "
                       "sectors)"));
  EXPECT_TRUE(fails_on("write t 0 0 zero", "0 zero", "LENGTH must not be zero"));
  EXPECT_TRUE(fails_on("write t 0 0K zero", "0K", "LENGTH must not be zero"));
  EXPECT_TRUE(fails_on("write t 0 4K undefined", "undefined",
                       "undefined is only allowed in expectations (it has no bytes to write)"));
  // The end of the IO must stay within 2^64 bytes.
  EXPECT_EQ(one("write t 36028797018963967s 1s zero").as<WriteCmd>().sector, 36028797018963967u);
  EXPECT_TRUE(fails_on("write t 36028797018963967s 2s zero", "2s",
                       "OFFSET + LENGTH ends beyond 2^64 bytes"));
  EXPECT_EQ(one("write t 16777215T 1T zero").as<WriteCmd>().nr_sectors, uint64_t{1} << 31);
  EXPECT_TRUE(
      fails_on("write t 16777215T 2T zero", "2T", "OFFSET + LENGTH ends beyond 2^64 bytes"));
}

TEST(ScenarioParser, Patterns) {
  auto pat = [](std::string_view p) {
    return one("write t 0 4K " + std::string(p)).as<WriteCmd>().pattern;
  };
  EXPECT_EQ(pat("zero"), ContentPattern::zero());
  EXPECT_EQ(pat("byte:0xAB"), ContentPattern::byte(0xab));
  EXPECT_EQ(pat("byte:0xab"), ContentPattern::byte(0xab));
  EXPECT_EQ(pat("byte:0X0"), ContentPattern::byte(0));
  EXPECT_EQ(pat("byte:255"), ContentPattern::byte(255));
  EXPECT_EQ(pat("byte:0"), ContentPattern::byte(0));
  EXPECT_EQ(pat("seed:0"), ContentPattern::seed(0));
  EXPECT_EQ(pat("seed:18446744073709551615"), ContentPattern::seed(UINT64_MAX));
  EXPECT_EQ(pat("text:\"a \\\"q\\\" # \\\\\""), ContentPattern::text("a \"q\" # \\"));

  const std::string list = "(patterns: zero, byte:0xNN, seed:N, text:\"...\")";
  EXPECT_TRUE(fails_on("write t 0 4K zeros", "zeros", "unknown pattern \"zeros\" " + list));
  EXPECT_TRUE(fails_on("write t 0 4K Zero", "Zero", "unknown pattern \"Zero\" " + list));
  EXPECT_TRUE(fails_on("write t 0 4K \"zero\"", "\"",
                       "expected a content pattern (zero, byte:0xNN, seed:N, text:\"...\"), got a "
                       "quoted string"));
  for (const char* bad : {"byte:", "byte:0x", "byte:0x100", "byte:256", "byte:0xg", "byte:-1",
                          "byte:0xabc", "byte:x1"}) {
    EXPECT_TRUE(fails_on(
        "write t 0 4K " + std::string(bad), "byte",
        "bad byte value in \"" + std::string(bad) + "\" (expected 0x00 to 0xff or 0 to 255)"))
        << bad;
  }
  EXPECT_TRUE(
      fails_on("write t 0 4K seed:", "seed", "bad seed in \"seed:\" (expected a decimal number)"));
  EXPECT_TRUE(fails_on("write t 0 4K seed:0x1", "seed",
                       "bad seed in \"seed:0x1\" (expected a decimal number)"));
  EXPECT_TRUE(fails_on("write t 0 4K seed:18446744073709551616", "seed",
                       "seed in \"seed:18446744073709551616\" is too large (the limit is 2^64-1)"));
  EXPECT_TRUE(fails_on("write t 0 4K seed:\"7\"", "seed",
                       "only text: takes a quoted string (got \"seed:\\\"7\\\"\")"));
  EXPECT_TRUE(
      fails_on("write t 0 4K text:", "text", "text: needs a quoted string, as in text:\"abc\""));
  EXPECT_TRUE(fails_on("write t 0 4K text: \"abc\"", "text",
                       "text: needs a quoted string, as in text:\"abc\""));
  EXPECT_TRUE(fails_on("write t 0 4K text:\"\"", "text", "a text pattern needs at least one byte"));
  // fill= reports the column of the pattern itself.
  EXPECT_TRUE(fails_on("disk o 1M fill=seed:x", "seed",
                       "bad seed in \"seed:x\" (expected a decimal number)"));
  EXPECT_TRUE(
      fails_on("disk o 1M fill=text:\"\"", "text", "a text pattern needs at least one byte"));
  EXPECT_TRUE(fails_on("disk o 1M fill=seed:\"1\"", "seed",
                       "only text: takes a quoted string (got \"seed:\\\"1\\\"\")"));
}

TEST(ScenarioParser, ReadDiscardFlush) {
  auto r = one("read thin 4K 64K").as<ReadCmd>();
  EXPECT_EQ(r.name, "thin");
  EXPECT_EQ(r.sector, 8u);
  EXPECT_EQ(r.nr_sectors, 128u);
  EXPECT_FALSE(r.tag);
  EXPECT_EQ(one("read thin 0 1s as r1 expect queued").as<ReadCmd>().tag, "r1");
  auto d = one("discard thin 1M 2M").as<DiscardCmd>();
  EXPECT_EQ(d.sector, 2048u);
  EXPECT_EQ(d.nr_sectors, 4096u);
  EXPECT_EQ(one("discard thin 0 1M as d1").as<DiscardCmd>().tag, "d1");
  auto f = one("flush thin").as<FlushCmd>();
  EXPECT_EQ(f.name, "thin");
  EXPECT_FALSE(f.tag);
  EXPECT_EQ(one("flush thin as f1 expect queued").as<FlushCmd>().tag, "f1");

  EXPECT_TRUE(
      fails_at("read thin 0", 1, 12, "missing LENGTH (usage: read NAME OFFSET LENGTH [as TAG])"));
  EXPECT_TRUE(fails_on("read thin 0 4K zero", "zero",
                       "unexpected \"zero\" after the arguments of read (usage: read NAME OFFSET "
                       "LENGTH [as TAG])"));
  EXPECT_TRUE(fails_on("read thin 0 4K fua", "fua",
                       "unexpected \"fua\" after the arguments of read (usage: read NAME OFFSET "
                       "LENGTH [as TAG])"));
  EXPECT_TRUE(fails_on("discard thin 1 4K", "1 4K",
                       "OFFSET \"1\" is not a multiple of 512 bytes (it must be whole sectors)"));
  EXPECT_TRUE(fails_at("discard thin 0 0", 1, 16, "LENGTH must not be zero"));
  EXPECT_TRUE(
      fails_on("flush thin 0", "0",
               "unexpected \"0\" after the arguments of flush (usage: flush NAME [as TAG])"));
}

TEST(ScenarioParser, Sleep) {
  EXPECT_EQ(one("sleep 1500ms").as<SleepCmd>().duration, 1500ms);
  EXPECT_EQ(one("sleep 2s").as<SleepCmd>().duration, 2000ms);
  EXPECT_EQ(one("sleep 3m").as<SleepCmd>().duration, 180000ms);
  EXPECT_EQ(one("sleep 0ms").as<SleepCmd>().duration, 0ms);
  EXPECT_EQ(one("sleep 9223372036854775807ms").as<SleepCmd>().duration.count(), INT64_MAX);
  EXPECT_EQ(one("sleep 1s expect ok").kind(), CommandKind::sleep);

  EXPECT_TRUE(fails_at("sleep", 1, 6, "missing DURATION (usage: sleep DURATION)"));
  EXPECT_TRUE(fails_on("sleep 5", "5", "bad DURATION \"5\": a duration needs a unit (ms, s or m)"));
  EXPECT_TRUE(
      fails_on("sleep 5h", "5h", "bad DURATION \"5h\": unknown unit \"h\" (units: ms, s, m)"));
  EXPECT_TRUE(
      fails_on("sleep 5S", "5S", "bad DURATION \"5S\": unknown unit \"S\" (units: ms, s, m)"));
  EXPECT_TRUE(fails_at("sleep s", 1, 7,
                       "bad DURATION \"s\": expected a decimal number and a unit (ms, s or m)"));
  EXPECT_TRUE(fails_at("sleep 9223372036854775808ms", 1, 7,
                       "DURATION \"9223372036854775808ms\" is too large (the limit is 2^63-1 "
                       "milliseconds)"));
  EXPECT_TRUE(fails_at("sleep 153722867280912931m", 1, 7,
                       "DURATION \"153722867280912931m\" is too large (the limit is 2^63-1 "
                       "milliseconds)"));
  EXPECT_TRUE(fails_on("sleep 1s 2s", "2s",
                       "unexpected \"2s\" after the arguments of sleep (usage: sleep DURATION)"));
  EXPECT_TRUE(fails_on("sleep 1s expect error EIO", "error",
                       "expect error cannot be used with sleep (sleep accepts: ok)"));
}

TEST(ScenarioParser, CompleteAndTags) {
  Scenario s = parse(
      "write t 0 4K zero as w1 expect queued\n"
      "read t 0 4K as r1 expect queued\n"
      "discard t 0 4K as d1 expect queued\n"
      "flush t as f1 expect queued\n"
      "complete w1 expect error ENOSPC\n"
      "complete r1 expect seed:3\n"
      "complete d1\n"
      "complete f1 expect ok\n"
      "read t 0 4K as w1\n"  // a tag names the most recent IO given it
      "complete w1 expect zero\n");
  ASSERT_EQ(s.commands.size(), 10u);
  const auto& c1 = s.commands[4].as<CompleteCmd>();
  EXPECT_EQ(c1.tag, "w1");
  EXPECT_EQ(c1.io_kind, CommandKind::write);
  EXPECT_EQ(s.commands[4].expect->body, ExpectationBody(ExpectError{ENOSPC, std::nullopt}));
  EXPECT_EQ(s.commands[5].as<CompleteCmd>().io_kind, CommandKind::read);
  EXPECT_EQ(s.commands[5].expect->body, ExpectationBody(ExpectContent{ContentPattern::seed(3)}));
  EXPECT_EQ(s.commands[6].as<CompleteCmd>().io_kind, CommandKind::discard);
  EXPECT_EQ(s.commands[7].as<CompleteCmd>().io_kind, CommandKind::flush);
  EXPECT_EQ(s.commands[9].as<CompleteCmd>().io_kind, CommandKind::read);

  EXPECT_TRUE(fails_at("complete", 1, 9, "missing TAG (usage: complete TAG)"));
  EXPECT_TRUE(fails_on("complete w1", "w1",
                       "no earlier IO is tagged \"w1\" (tag one with: write ... as w1)"));
  EXPECT_TRUE(fails_at("complete w1\nwrite t 0 4K zero as w1", 1, 10,
                       "no earlier IO is tagged \"w1\" (tag one with: write ... as w1)"));
  EXPECT_TRUE(fails_at("write t 0 4K zero as w1\ncomplete w1 expect zero", 2, 20,
                       "a content pattern applies only to complete of a read; \"w1\" tags a "
                       "write"));
  // expect queued on complete: the tagged IO is still held.
  EXPECT_EQ(parse("write t 0 4K zero as w1\ncomplete w1 expect queued").commands[1].expect->body,
            ExpectationBody(ExpectQueued{}));
  EXPECT_TRUE(fails_at("write t 0 4K zero as w1\ncomplete w1 expect none", 2, 20,
                       "expect none cannot be used with complete (complete accepts: ok, error "
                       "ERRNO [\"TEXT\"], queued)"));
  EXPECT_TRUE(fails_at("read t 0 4K as r1\ncomplete r1 expect \"x\"", 2, 20,
                       "a status line cannot be used with complete (complete accepts: ok, error "
                       "ERRNO [\"TEXT\"], queued, PATTERN)"));
  EXPECT_TRUE(fails_at("write t 0 4K zero as w1\ncomplete w1 w2", 2, 13,
                       "unexpected \"w2\" after the arguments of complete (usage: complete "
                       "TAG)"));
  // A failed line defines no tag.
  EXPECT_TRUE(fails_at("write t 0 4K zero as w1 expect bogus\ncomplete w1", 1, 32,
                       "unknown expectation \"bogus\" (write accepts: ok, error ERRNO [\"TEXT\"], "
                       "queued)"));
}

TEST(ScenarioParser, Event) {
  Command c = one("event pool");
  EXPECT_EQ(c.as<EventCmd>().name, "pool");
  EXPECT_FALSE(c.expect);
  EXPECT_EQ(one("event pool expect none").expect->body, ExpectationBody(ExpectNone{}));
  EXPECT_EQ(one("event pool expect ok").expect->body, ExpectationBody(ExpectOk{}));
  EXPECT_TRUE(fails_on("event pool expect error EIO", "error",
                       "expect error cannot be used with event (event accepts: ok, none)"));
  EXPECT_TRUE(fails_on("event pool expect \"x\"", "\"x",
                       "a status line cannot be used with event (event accepts: ok, none)"));
}

TEST(ScenarioParser, UnknownAndReservedCommands) {
  EXPECT_TRUE(fails_at("wrte t 0 4K zero", 1, 1, "unknown command \"wrte\" (did you mean write?)"));
  EXPECT_TRUE(fails_at("  stauts p", 1, 3, "unknown command \"stauts\" (did you mean status?)"));
  EXPECT_TRUE(
      fails_at("Write t 0 4K zero", 1, 1, "unknown command \"Write\" (did you mean write?)"));
  EXPECT_TRUE(fails_at("frobnicate x", 1, 1, "unknown command \"frobnicate\""));
  EXPECT_TRUE(
      fails_at(std::string(100, 'z'), 1, 1, "unknown command \"" + std::string(60, 'z') + "...\""));
  EXPECT_TRUE(fails_at("\"write\" t", 1, 1,
                       "expected a command word, got the quoted string \"\\\"write\\\"\""));
  EXPECT_TRUE(fails_at("expect ok", 1, 1, "expect needs a command before it"));
  EXPECT_TRUE(fails_at("fault data write 3 EIO", 1, 12, "unknown fault \"write\" (faults: error, bit-flip, latent-error, lost-writes, misdirected-writes, ignore-flush, clear)"));
  EXPECT_TRUE(fails_at(" crash after 3", 1, 8, "unknown crash option \"after\" (keep=none, keep=all, keep=seed:N)"));
}

// ------------------------------------------------------------------------------------------
// Expectations

TEST(ScenarioParser, ExpectOkAndError) {
  Command c = one("message pool 0 \"create_thin 0\"   expect ok");
  ASSERT_TRUE(c.expect);
  EXPECT_EQ(c.expect->location, (SourceLocation{kFile, 1, 34}));
  EXPECT_EQ(c.expect->body, ExpectationBody(ExpectOk{}));

  struct Case {
    const char* name;
    int value;
  };
  for (Case k : {Case{"EEXIST", EEXIST}, Case{"ENODATA", ENODATA}, Case{"EINVAL", EINVAL},
                 Case{"EBUSY", EBUSY}, Case{"ENOSPC", ENOSPC}, Case{"EIO", EIO},
                 Case{"EOPNOTSUPP", EOPNOTSUPP}, Case{"EPERM", EPERM}, Case{"ENXIO", ENXIO},
                 Case{"ENOMEM", ENOMEM}, Case{"ENODEV", ENODEV}}) {
    Command e = one("remove x expect error " + std::string(k.name));
    EXPECT_EQ(e.expect->body, ExpectationBody(ExpectError{k.value, std::nullopt})) << k.name;
    EXPECT_EQ(errno_from_name(k.name), k.value);
    EXPECT_EQ(errno_name(k.value), k.name);
  }
  EXPECT_FALSE(errno_from_name("ENOENT"));
  EXPECT_EQ(errno_name(ENOENT), "");

  Command s = one("message pool 0 \"create_thin 0\" expect error EEXIST \"File exists\"");
  EXPECT_EQ(s.expect->body, ExpectationBody(ExpectError{EEXIST, std::string("File exists")}));
  Command empty = one("remove x expect error EBUSY \"\"");
  EXPECT_EQ(empty.expect->body, ExpectationBody(ExpectError{EBUSY, std::string()}));
}

TEST(ScenarioParser, ExpectErrorErrors) {
  const std::string known =
      " (known: EEXIST, ENODATA, EINVAL, EBUSY, ENOSPC, EIO, EOPNOTSUPP, EPERM, ENXIO, ENOMEM, "
      "ENODEV, EUCLEAN, EILSEQ, ENOTBLK)";
  EXPECT_TRUE(fails_at("remove x expect error", 1, 22,
                       "missing errno name after error (as in: expect error EEXIST)"));
  EXPECT_TRUE(
      fails_on("remove x expect error ENOENT", "ENOENT", "unknown errno name \"ENOENT\"" + known));
  EXPECT_TRUE(
      fails_on("remove x expect error eexist", "eexist", "unknown errno name \"eexist\"" + known));
  EXPECT_TRUE(fails_on("remove x expect error 17", "17", "unknown errno name \"17\"" + known));
  EXPECT_TRUE(fails_on("remove x expect error \"EBUSY\"", "\"",
                       "unknown errno name \"\\\"EBUSY\\\"\"" + known));
  EXPECT_TRUE(fails_on("remove x expect error EBUSY busy", "busy",
                       "expected a quoted substring of the error message after EBUSY, got "
                       "\"busy\""));
  EXPECT_TRUE(fails_on("remove x expect error EBUSY \"a\" \"b\"", "\"b",
                       "unexpected \"\\\"b\\\"\" after the expectation"));
}

TEST(ScenarioParser, ExpectQueued) {
  for (const char* line : {"write t 0 4K zero expect queued", "read t 0 4K expect queued",
                           "discard t 0 4K expect queued", "flush t expect queued"}) {
    EXPECT_EQ(one(line).expect->body, ExpectationBody(ExpectQueued{})) << line;
  }
  EXPECT_TRUE(fails_on("status p expect queued", "queued",
                       "expect queued cannot be used with status (status accepts: ok, error ERRNO "
                       "[\"TEXT\"], \"LINE\", Fail, FIELD=VALUE...)"));
  EXPECT_TRUE(fails_on("message p 0 \"x\" expect queued", "queued",
                       "expect queued cannot be used with message (message accepts: ok, error "
                       "ERRNO [\"TEXT\"])"));
  EXPECT_TRUE(
      fails_on("flush t expect queued now", "now", "unexpected \"now\" after the expectation"));
}

TEST(ScenarioParser, ExpectContent) {
  auto content = [](std::string_view line) {
    Command c = one(line);
    return std::get<ExpectContent>(c.expect->body).pattern;
  };
  EXPECT_EQ(content("read thin 0 64K expect seed:7"), ContentPattern::seed(7));
  EXPECT_EQ(content("read thin 0 64K expect zero"), ContentPattern::zero());
  EXPECT_EQ(content("read thin 0 64K expect byte:0xff"), ContentPattern::byte(255));
  EXPECT_EQ(content("read thin 0 64K expect text:\"abc\""), ContentPattern::text("abc"));
  EXPECT_EQ(content("read thin 0 64K expect undefined"), ContentPattern::undefined());

  EXPECT_TRUE(fails_on("read thin 0 64K expect seed:x", "seed",
                       "bad seed in \"seed:x\" (expected a decimal number)"));
  EXPECT_TRUE(fails_at("read thin 0 64K expect zero zero", 1, 29,
                       "unexpected \"zero\" after the expectation"));
  EXPECT_TRUE(fails_on("read thin 0 64K expect zeros", "zeros",
                       "unknown expectation \"zeros\" (read accepts: ok, error ERRNO [\"TEXT\"], "
                       "queued, PATTERN)"));
  EXPECT_TRUE(
      fails_at("write thin 0 64K zero expect zero", 1, 30,
               "a content pattern cannot be used with write (write accepts: ok, error ERRNO "
               "[\"TEXT\"], queued)"));
  EXPECT_TRUE(fails_on("status p expect seed:1", "seed",
                       "a content pattern cannot be used with status (status accepts: ok, error "
                       "ERRNO [\"TEXT\"], \"LINE\", Fail, FIELD=VALUE...)"));
  // A quoted string is a line expectation, which read does not take.
  EXPECT_TRUE(fails_on("read t 0 4K expect \"zero\"", "\"",
                       "a status line cannot be used with read (read accepts: ok, error ERRNO "
                       "[\"TEXT\"], queued, PATTERN)"));
}

TEST(ScenarioParser, ExpectLineAndFail) {
  const char* line = "0 10/1024 0/16384 - rw discard_passdown queue_if_no_space - 256";
  Command c = one("status pool expect \"" + std::string(line) + "\"");
  EXPECT_EQ(c.expect->body, ExpectationBody(ExpectLine{line}));
  EXPECT_EQ(one("status pool expect Fail").expect->body, ExpectationBody(ExpectLine{"Fail"}));
  EXPECT_EQ(one("status thin --noflush expect \"256 255\"").expect->body,
            ExpectationBody(ExpectLine{"256 255"}));
  EXPECT_EQ(one("table pool expect \"253:0 253:1 128 0 0\"").expect->body,
            ExpectationBody(ExpectLine{"253:0 253:1 128 0 0"}));
  EXPECT_EQ(one("table pool expect Fail").expect->body, ExpectationBody(ExpectLine{"Fail"}));

  EXPECT_TRUE(fails_on("status pool expect fail", "fail",
                       "unknown expectation \"fail\" (status accepts: ok, error ERRNO [\"TEXT\"], "
                       "\"LINE\", Fail, FIELD=VALUE...)"));
  EXPECT_TRUE(fails_on("status pool expect Fail \"x\"", "\"x",
                       "unexpected \"\\\"x\\\"\" after the expectation"));
  EXPECT_TRUE(fails_on("status pool expect \"a\" \"b\"", "\"b",
                       "unexpected \"\\\"b\\\"\" after the expectation"));
  EXPECT_TRUE(fails_on("table pool expect mode=rw", "mode",
                       "status fields cannot be used with table (table accepts: ok, error ERRNO "
                       "[\"TEXT\"], \"LINE\", Fail)"));
  EXPECT_TRUE(fails_on("write t 0 4K zero expect Fail", "Fail",
                       "a status line cannot be used with write (write accepts: ok, error ERRNO "
                       "[\"TEXT\"], queued)"));
}

TEST(ScenarioParser, ExpectFields) {
  Command c = one("status pool expect mode=rw transaction_id=3 used_data=5");
  auto fields = std::get<ExpectFields>(c.expect->body).fields;
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0], (FieldExpectation{StatusField::mode, "rw"}));
  EXPECT_EQ(fields[1], (FieldExpectation{StatusField::transaction_id, "3"}));
  EXPECT_EQ(fields[2], (FieldExpectation{StatusField::used_data, "5"}));

  Command t = one("status thin expect mapped_sectors=256 highest_sector=255");
  auto tf = std::get<ExpectFields>(t.expect->body).fields;
  ASSERT_EQ(tf.size(), 2u);
  EXPECT_EQ(tf[0], (FieldExpectation{StatusField::mapped_sectors, "256"}));
  EXPECT_EQ(tf[1], (FieldExpectation{StatusField::highest_sector, "255"}));
  EXPECT_EQ(std::get<ExpectFields>(one("status t expect highest_sector=-").expect->body).fields[0],
            (FieldExpectation{StatusField::highest_sector, "-"}));

  // Every pool field with a typical value; numbers lose leading zeros.
  Command all =
      one("status pool expect transaction_id=007 used_metadata=10 total_metadata=1024 used_data=0 "
          "total_data=16384 held_root=- mode=out_of_data_space discard=no_discard_passdown "
          "no_space=error_if_no_space needs_check=needs_check metadata_low_water=256");
  auto af = std::get<ExpectFields>(all.expect->body).fields;
  ASSERT_EQ(af.size(), 11u);
  for (size_t i = 0; i < af.size(); ++i) EXPECT_EQ(af[i].field, static_cast<StatusField>(i));
  EXPECT_EQ(af[0].value, "7");
  EXPECT_EQ(af[5].value, "-");
  EXPECT_EQ(af[9].value, "needs_check");
  EXPECT_EQ(
      std::get<ExpectFields>(one("status p expect held_root=12").expect->body).fields[0].value,
      "12");
  EXPECT_EQ(
      std::get<ExpectFields>(one("status p expect needs_check=-").expect->body).fields[0].value,
      "-");
  EXPECT_EQ(std::get<ExpectFields>(one("status p expect mode=\"ro\"").expect->body).fields[0].value,
            "ro");
  for (const char* v : {"rw", "ro", "out_of_data_space"})
    EXPECT_NO_THROW(one("status p expect mode=" + std::string(v)));
  for (const char* v : {"discard_passdown", "no_discard_passdown", "ignore_discard"})
    EXPECT_NO_THROW(one("status p expect discard=" + std::string(v)));
  for (const char* v : {"queue_if_no_space", "error_if_no_space"})
    EXPECT_NO_THROW(one("status p expect no_space=" + std::string(v)));
}

TEST(ScenarioParser, ExpectFieldsErrors) {
  const std::string names =
      " (pool: transaction_id, used_metadata, total_metadata, used_data, total_data, held_root, "
      "mode, discard, no_space, needs_check, metadata_low_water; thin: mapped_sectors, "
      "highest_sector)";
  EXPECT_TRUE(fails_on("status pool expect mode=rw bogus=1", "bogus",
                       "unknown status field \"bogus\"" + names));
  EXPECT_TRUE(
      fails_on("status pool expect Mode=rw", "Mode", "unknown status field \"Mode\"" + names));
  EXPECT_TRUE(fails_on("status pool expect =rw", "=rw", "missing field name before ="));
  EXPECT_TRUE(fails_at("status pool expect mode=", 1, 25, "missing value for mode"));
  EXPECT_TRUE(fails_at("status pool expect mode=rw rw", 1, 28, "expected FIELD=VALUE, got \"rw\""));
  EXPECT_TRUE(fails_at("status pool expect mode=rw \"x=1\"", 1, 28,
                       "expected FIELD=VALUE, got \"\\\"x=1\\\"\""));
  EXPECT_TRUE(fails_at("status pool expect used_data=1 used_data=2", 1, 32,
                       "status field used_data is given twice"));
  EXPECT_TRUE(fails_at("status pool expect mode=rw mapped_sectors=8", 1, 28,
                       "mapped_sectors is a thin field but mode is a pool field; a status line "
                       "has one kind"));
  EXPECT_TRUE(fails_at("status t expect highest_sector=7 used_data=1", 1, 34,
                       "used_data is a pool field but highest_sector is a thin field; a status "
                       "line has one kind"));
  EXPECT_TRUE(fails_at("status p expect mode=RW", 1, 22,
                       "bad value \"RW\" for mode (expected one of: rw, ro, out_of_data_space)"));
  EXPECT_TRUE(fails_at("status p expect mode=Fail", 1, 22,
                       "bad value \"Fail\" for mode (expected one of: rw, ro, out_of_data_space)"));
  EXPECT_TRUE(fails_at("status p expect discard=yes", 1, 25,
                       "bad value \"yes\" for discard (expected one of: discard_passdown, "
                       "no_discard_passdown, ignore_discard)"));
  EXPECT_TRUE(fails_at("status p expect no_space=queue", 1, 26,
                       "bad value \"queue\" for no_space (expected one of: queue_if_no_space, "
                       "error_if_no_space)"));
  EXPECT_TRUE(fails_at("status p expect needs_check=yes", 1, 29,
                       "bad value \"yes\" for needs_check (expected one of: needs_check, -)"));
  EXPECT_TRUE(fails_at("status p expect used_data=-", 1, 27,
                       "bad value \"-\" for used_data (expected a decimal number)"));
  EXPECT_TRUE(fails_at("status p expect used_data=5/10", 1, 27,
                       "bad value \"5/10\" for used_data (expected a decimal number)"));
  EXPECT_TRUE(fails_at("status p expect held_root=x", 1, 27,
                       "bad value \"x\" for held_root (expected a decimal number or -)"));
  EXPECT_TRUE(fails_at("status p expect transaction_id=18446744073709551616", 1, 32,
                       "value \"18446744073709551616\" for transaction_id is too large (the limit "
                       "is 2^64-1)"));
  EXPECT_TRUE(fails_at("status p expect mode=r\"w\"", 1, 22, "bad value \"r\\\"w\\\"\" for mode"));
  EXPECT_TRUE(fails_at("status p expect mode=rw ok", 1, 25, "expected FIELD=VALUE, got \"ok\""));
}

TEST(ScenarioParser, StatusFieldNames) {
  EXPECT_EQ(status_field_name(StatusField::metadata_low_water), "metadata_low_water");
  EXPECT_EQ(status_field_from_name("held_root"), StatusField::held_root);
  EXPECT_FALSE(status_field_from_name("held"));
  EXPECT_TRUE(is_thin_status_field(StatusField::mapped_sectors));
  EXPECT_TRUE(is_thin_status_field(StatusField::highest_sector));
  EXPECT_FALSE(is_thin_status_field(StatusField::needs_check));
}

TEST(ScenarioParser, ExpectClauseErrors) {
  EXPECT_TRUE(fails_at("remove x expect", 1, 16,
                       "missing expectation after expect (remove accepts: ok, error ERRNO "
                       "[\"TEXT\"])"));
  EXPECT_TRUE(fails_at("remove x expect   # comment", 1, 16,
                       "missing expectation after expect (remove accepts: ok, error ERRNO "
                       "[\"TEXT\"])"));
  EXPECT_TRUE(fails_at("remove x expect ok expect ok", 1, 20,
                       "unexpected \"expect\" after the expectation"));
  EXPECT_TRUE(fails_on("remove x expect none", "none",
                       "expect none cannot be used with remove (remove accepts: ok, error ERRNO "
                       "[\"TEXT\"])"));
  EXPECT_TRUE(fails_on("remove x expect OK", "OK",
                       "unknown expectation \"OK\" (remove accepts: ok, error ERRNO [\"TEXT\"])"));
  // Arguments are checked before the expectation.
  EXPECT_TRUE(fails_on("remove x y expect bogus", "y",
                       "unexpected \"y\" after the arguments of remove (usage: remove NAME)"));
}

// ------------------------------------------------------------------------------------------
// Printing

TEST(ScenarioParser, ToTextRoundTrips) {
  const char* text =
      "disk meta 4M\n"
      "disk data 1G fill=byte:0x5a\n"
      "disk origin 64M fill=text:\"a\\\"b\\\\c\"\n"
      "create pool \"0 2097152 thin-pool meta data 128 32768 1 skip_block_zeroing\"\n"
      "message pool 0 \"create_thin 0\" expect ok\n"
      "message pool 0 \"create_thin 0\" expect error EEXIST \"exists \\\"x\\\"\"\n"
      "create thin \"0 2097152 thin pool 0 origin\"\n"
      "reload thin \"0 4194304 thin pool 0\"\n"
      "suspend thin --noflush\n"
      "resume thin\n"
      "write thin 4K 1M seed:7 fua as w1 expect queued\n"
      "read thin 0 64K expect undefined\n"
      "read thin 0 64K as r1\n"
      "discard thin 0 1M as d1 expect error EOPNOTSUPP\n"
      "flush thin as f1\n"
      "complete w1 expect ok\n"
      "complete r1 expect text:\"xy\"\n"
      "sleep 61s\n"
      "status pool expect mode=rw transaction_id=3 held_root=-\n"
      "status pool --noflush expect \"0 10/1024 0/16384 - rw discard_passdown "
      "queue_if_no_space - 256\"\n"
      "status thin expect Fail\n"
      "table thin expect \"253:2 0\"\n"
      "event pool expect none\n"
      "event pool\n"
      "remove thin expect error EBUSY\n";
  Scenario a = parse(text);
  std::string printed = to_text(a);
  Scenario b = parse(printed);
  ASSERT_EQ(a.commands.size(), b.commands.size());
  for (size_t i = 0; i < a.commands.size(); ++i) {
    EXPECT_EQ(a.commands[i].body, b.commands[i].body) << to_text(a.commands[i]);
    EXPECT_EQ(a.commands[i].expect.has_value(), b.commands[i].expect.has_value());
    if (a.commands[i].expect && b.commands[i].expect) {
      EXPECT_EQ(a.commands[i].expect->body, b.commands[i].expect->body);
    }
  }
  EXPECT_EQ(to_text(b), printed);  // a fixed point

  EXPECT_EQ(to_text(a.commands[1]), "disk data 2097152s fill=byte:0x5a");
  EXPECT_EQ(to_text(a.commands[5]),
            "message pool 0 \"create_thin 0\" expect error EEXIST \"exists \\\"x\\\"\"");
  EXPECT_EQ(to_text(a.commands[10]), "write thin 8s 2048s seed:7 fua as w1 expect queued");
  EXPECT_EQ(to_text(a.commands[17]), "sleep 61000ms");
  EXPECT_EQ(to_text(a.commands[18]), "status pool expect mode=rw transaction_id=3 held_root=-");
  EXPECT_EQ(to_text(a.commands[20]), "status thin expect \"Fail\"");
  EXPECT_EQ(to_text(*a.commands[22].expect), "expect none");
}

// ------------------------------------------------------------------------------------------
// Limits

TEST(ScenarioParser, LineLengthLimit) {
  // At the limit is fine; one byte more is refused at the first byte past it.
  std::string at_limit = "# " + std::string(64 * 1024 - 2, 'x');
  EXPECT_TRUE(parse(at_limit + "\nresume a\n").commands.size() == 1);
  std::string over = "resume a\n" + at_limit + "x\n";
  EXPECT_TRUE(fails_at(over, 2, 65537, "line is longer than 65536 bytes"));
  // The line break (\n or \r\n) does not count.
  EXPECT_EQ(parse(at_limit + "\r\nresume a").commands.size(), 1u);

  ParseOptions small;
  small.max_line_bytes = 10;
  EXPECT_TRUE(fails_at("resume abcd", 1, 11, "line is longer than 10 bytes", small));
  EXPECT_EQ(parse_scenario("resume abc", kFile, small).commands.size(), 1u);
}

TEST(ScenarioParser, CommandCountLimit) {
  ParseOptions small;
  small.max_commands = 3;
  EXPECT_EQ(
      parse_scenario("resume a\n# c\nresume b\n\nresume c\n# d\n", kFile, small).commands.size(),
      3u);
  EXPECT_TRUE(fails_at("resume a\nresume b\nresume c\n\n  resume d\n", 5, 3,
                       "too many commands (the limit is 3)", small));
}

TEST(ScenarioParser, DefaultLimits) {
  ParseOptions o;
  EXPECT_EQ(o.max_line_bytes, 65536u);
  EXPECT_EQ(o.max_commands, 1'000'000u);
  EXPECT_EQ(o.max_input_bytes, 256u << 20);
  // A long scenario parses in reasonable time (a million lines takes about a second in an
  // optimised build; this keeps debug and sanitizer runs short).
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "write thin 0 4K seed:1 expect ok\n";
  EXPECT_EQ(parse(text).commands.size(), 20000u);
}

TEST(ScenarioParser, InputSizeLimit) {
  ParseOptions small;
  small.max_input_bytes = 16;
  EXPECT_EQ(parse_scenario("resume abcdefgh\n", kFile, small).commands.size(), 1u);
  try {
    parse_scenario("resume abcdefghi\n", kFile, small);
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_STREQ(e.what(), "t.scn: scenario is larger than 16 bytes");
    EXPECT_EQ(e.location().line, 0u);
  }
}

// ------------------------------------------------------------------------------------------
// Files

class ScenarioFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("scenario_parser_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write_file(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  std::filesystem::path dir_;
};

TEST_F(ScenarioFileTest, ParsesAFileAndNamesItInLocations) {
  auto p = write_file("ok.scn", "disk meta 4M\n\nresume x expect ok\n");
  Scenario s = parse_scenario_file(p);
  EXPECT_EQ(s.file, p.string());
  ASSERT_EQ(s.commands.size(), 2u);
  EXPECT_EQ(s.commands[1].location, (SourceLocation{p.string(), 3, 1}));
  EXPECT_EQ(s.commands[1].expect->location, (SourceLocation{p.string(), 3, 10}));
}

TEST_F(ScenarioFileTest, ErrorsInAFileCarryItsName) {
  auto p = write_file("bad.scn", "disk meta 4M\ndisk data 12Q\n");
  try {
    parse_scenario_file(p);
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()),
              p.string() +
                  ":2:11: bad SIZE \"12Q\": unknown unit \"Q\" (units: s = 512-byte sectors, K, "
                  "M, G, T; none = bytes)");
  }
}

TEST_F(ScenarioFileTest, MissingFile) {
  auto p = dir_ / "missing.scn";
  try {
    parse_scenario_file(p);
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()),
              p.string() + ": cannot read scenario: No such file or directory");
    EXPECT_EQ(e.location().line, 0u);
  }
}

TEST_F(ScenarioFileTest, Directory) {
  try {
    parse_scenario_file(dir_);
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()), dir_.string() + ": cannot read scenario: it is a directory");
  }
}

TEST_F(ScenarioFileTest, TooLarge) {
  auto p = write_file("big.scn", std::string(200000, '#'));
  ParseOptions small;
  small.max_input_bytes = 100000;
  try {
    parse_scenario_file(p, small);
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()), p.string() + ": scenario is larger than 100000 bytes");
  }
}

TEST_F(ScenarioFileTest, Unreadable) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read any file";
  auto p = write_file("secret.scn", "resume a\n");
  std::filesystem::permissions(p, std::filesystem::perms::none);
  try {
    parse_scenario_file(p);
    FAIL();
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()), p.string() + ": cannot read scenario: Permission denied");
  }
}

}  // namespace
}  // namespace thinsim::harness
