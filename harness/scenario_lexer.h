// Tokens of one scenario line (internal to the parser; exposed for its tests).
//
// A line is a sequence of tokens separated by blanks (space, tab); `#` outside a string starts
// a comment that runs to the end of the line. A token is a bare word (any bytes but blanks, `#`
// and `"`), a double-quoted string (escapes: \" and \\), or a bare word immediately followed
// by a quoted string, as in text:"abc" or mode="rw". A closing quote must be followed by a
// blank, a comment or the end of the line. Control characters other than tab are refused
// outside comments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/scenario_parser.h"

namespace thinsim::harness {

struct Token {
  std::string word;                   // the bare part; empty for a plain string
  std::optional<std::string> quoted;  // the unescaped string directly after the bare part
  uint32_t column = 0;                // 1-based column of the first byte
  uint32_t end_column = 0;            // column just past the last byte

  bool is_word() const { return !quoted && !word.empty(); }
  bool is_string() const { return quoted && word.empty(); }
  bool is(std::string_view keyword) const { return !quoted && word == keyword; }
  // The token as written (re-escaped), for messages.
  std::string spelling() const;
};

// Splits one line (without its line break) into tokens. Errors are thrown as ScenarioErrors
// at `file`:`line`:column.
std::vector<Token> lex_line(std::string_view text, const std::string& file, uint32_t line);

// `text` quoted for an error message: printable ASCII as is, `"` and `\` escaped, other bytes
// as \xNN, cut to about 60 bytes with "..." so hostile input cannot flood a message.
std::string quote_for_message(std::string_view text);

}  // namespace thinsim::harness
