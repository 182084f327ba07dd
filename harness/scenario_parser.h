// The scenario-language front end: text -> Scenario (scenario_ast.h).
//
// The language is described in docs/scenario-language.md. Parsing stops at the first
// problem and throws ScenarioError, whose what() reads "FILE:LINE:COLUMN: problem", e.g.
//   pool.scn:4:11: bad SIZE "12Q": unknown unit "Q" (units: s = 512-byte sectors, K, M, G, T;
//   none = bytes)
// The column points at the offending token, or for a missing argument at the token that
// stands where it should be (or just past the end of the line's last token).
//
// Hostile input is bounded: lines, the number of commands, the whole input and numbers have
// limits (ParseOptions), each reported as a located ScenarioError; no input crashes or hangs
// the parser, and it throws nothing but ScenarioError (and std::bad_alloc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "harness/scenario_ast.h"

namespace thinsim::harness {

// what() is "FILE:LINE:COLUMN: problem", "FILE: problem" when line is 0, or just the problem
// when the location is empty (no file, line 0).
class ScenarioError : public std::runtime_error {
 public:
  ScenarioError(SourceLocation location, const std::string& problem);

  const SourceLocation& location() const { return location_; }
  const std::string& problem() const { return problem_; }  // what() without the location

 private:
  SourceLocation location_;
  std::string problem_;
};

struct ParseOptions {
  size_t max_line_bytes = 64 * 1024;  // not counting the line break
  size_t max_commands = 1'000'000;
  size_t max_input_bytes = 256 * 1024 * 1024;  // the whole text
};

// Parses scenario text. `file` names it in locations and errors.
Scenario parse_scenario(std::string_view text, std::string file = "<string>",
                        const ParseOptions& options = {});

// Reads and parses a file. Errors reading it (missing, a directory, unreadable, too large)
// are ScenarioErrors located at the file alone: "FILE: cannot read scenario: <reason>".
Scenario parse_scenario_file(const std::filesystem::path& path, const ParseOptions& options = {});

// Parses the text of a dmsetup table line ("0 2097152 thin pool 1"), as the parser does for
// create and reload. Throws ScenarioError at `where` (the table's string token).
TableLine parse_table_line(std::string_view text, const SourceLocation& where = {});

}  // namespace thinsim::harness
