#include "harness/scenario_lexer.h"

#include <cstdio>

namespace thinsim::harness {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

std::string hex(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", c);
  return buf;
}

}  // namespace

std::string quote_for_message(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
  return out;
}

std::string Token::spelling() const {
  std::string s = word;
  if (quoted) {
    s += '"';
    for (char c : *quoted) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += '"';
  }
  return s;
}

std::vector<Token> lex_line(std::string_view text, const std::string& file, uint32_t line) {
  auto fail = [&](size_t index, const std::string& problem) -> void {
    throw ScenarioError(SourceLocation{file, line, static_cast<uint32_t>(index + 1)}, problem);
  };
  auto control = [&](size_t index) {
    fail(index, "unexpected control character " + hex(static_cast<unsigned char>(text[index])));
  };

  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (is_blank(c)) {
      ++i;
      continue;
    }
    if (c == '#') break;
    Token tok;
    tok.column = static_cast<uint32_t>(i + 1);
    while (i < text.size() && !is_blank(text[i]) && text[i] != '#' && text[i] != '"') {
      if (is_control(text[i])) control(i);
      tok.word += text[i++];
    }
    if (i < text.size() && text[i] == '"') {
      size_t open = i++;
      std::string s;
      bool closed = false;
      while (i < text.size()) {
        char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\') {
          if (i + 1 >= text.size()) break;  // unterminated
          char e = text[i + 1];
          if (e != '"' && e != '\\') {
            std::string shown =
                is_control(e) ? hex(static_cast<unsigned char>(e)) : std::string(1, e);
            fail(i, "unknown escape \\" + shown + " in string (only \\\" and \\\\ are allowed)");
          }
          s += e;
          i += 2;
          continue;
        }
        if (is_control(d)) control(i);
        s += d;
        ++i;
      }
      if (!closed) fail(open, "unterminated string (no closing \")");
      if (i < text.size() && !is_blank(text[i]) && text[i] != '#')
        fail(i, "unexpected " + quote_for_message(text.substr(i, 1)) +
                    " right after a closing quote (separate tokens with a blank)");
      tok.quoted = std::move(s);
    }
    tok.end_column = static_cast<uint32_t>(i + 1);
    tokens.push_back(std::move(tok));
  }
  return tokens;
}

}  // namespace thinsim::harness
