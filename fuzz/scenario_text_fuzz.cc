// libFuzzer target: arbitrary bytes as scenario text. The parser must either return a
// Scenario or throw a located ScenarioError: nothing else, no crash, no hang. A successful
// parse must survive printing: to_text() parses again to the same commands and
// expectations. The content patterns it produced are exercised on a few bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "harness/scenario_parser.h"

namespace {

using namespace thinsim::harness;

[[noreturn]] void die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "scenario_text_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void exercise(const ContentPattern& p, uint64_t sector) {
  if (p.kind() == ContentPattern::Kind::undefined) return;
  std::vector<std::byte> buf(67);
  uint64_t offset = sector * 512 + 5;
  p.fill(offset, buf);
  if (!p.matches(offset, buf)) die("a pattern does not match its own fill", p.to_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Scenario first;
  try {
    first = parse_scenario(text, "fuzz.scn");
  } catch (const ScenarioError& e) {
    // Errors are located inside the input.
    const SourceLocation& loc = e.location();
    if (loc.file != "fuzz.scn" || loc.line == 0 || loc.column == 0 || e.problem().empty())
      die("badly located error", e.what());
    return 0;
  }

  // Printing can lengthen a line (1T prints as 2147483648s), so reparse without the limit.
  ParseOptions roomy;
  roomy.max_line_bytes = SIZE_MAX;
  std::string printed = to_text(first);
  Scenario second;
  try {
    second = parse_scenario(printed, "printed.scn", roomy);
  } catch (const ScenarioError& e) {
    die("printed scenario does not parse", std::string(e.what()) + "\n" + printed);
  }
  if (first.commands.size() != second.commands.size())
    die("printed scenario has a different number of commands", printed);
  for (size_t i = 0; i < first.commands.size(); ++i) {
    const Command& a = first.commands[i];
    const Command& b = second.commands[i];
    bool same = a.body == b.body && a.expect.has_value() == b.expect.has_value() &&
                (!a.expect || a.expect->body == b.expect->body);
    if (!same) die("printed command parses differently", to_text(a) + "\n" + to_text(b));
    if (auto* w = std::get_if<WriteCmd>(&a.body)) exercise(w->pattern, w->sector);
    if (auto* d = std::get_if<DiskCmd>(&a.body)) exercise(d->fill, 0);
    if (a.expect) {
      if (auto* c = std::get_if<ExpectContent>(&a.expect->body)) exercise(c->pattern, 1);
    }
  }
  return 0;
}
