#include "harness/scenario_parser.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <system_error>
#include <utility>

#include "harness/scenario_lexer.h"

namespace thinsim::harness {

namespace {

// The variant's alternatives must be in CommandKind order, so Command::kind() is index().
template <size_t... I>
constexpr bool kinds_in_order(std::index_sequence<I...>) {
  return ((static_cast<size_t>(std::variant_alternative_t<I, CommandBody>::kind) == I) && ...);
}
static_assert(kinds_in_order(std::make_index_sequence<std::variant_size_v<CommandBody>>{}));

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr size_t kMaxNameBytes = 127;  // DM_NAME_LEN - 1

// Expectation forms, as a mask of what a command accepts.
enum Form : unsigned {
  kOk = 1u << 0,
  kError = 1u << 1,
  kQueued = 1u << 2,
  kNone = 1u << 3,
  kContent = 1u << 4,
  kLine = 1u << 5,  // "LINE" or Fail
  kFields = 1u << 6,
};

std::string accepted_forms(unsigned forms) {
  static constexpr std::pair<unsigned, std::string_view> kNames[] = {
      {kOk, "ok"},
      {kError, "error ERRNO [\"TEXT\"]"},
      {kQueued, "queued"},
      {kNone, "none"},
      {kContent, "PATTERN"},
      {kLine, "\"LINE\", Fail"},
      {kFields, "FIELD=VALUE..."},
  };
  std::string s;
  for (const auto& [f, name] : kNames) {
    if (!(forms & f)) continue;
    if (!s.empty()) s += ", ";
    s += name;
  }
  return s;
}

std::string_view form_name(Form f) {
  switch (f) {
    case kOk:
      return "expect ok";
    case kError:
      return "expect error";
    case kQueued:
      return "expect queued";
    case kNone:
      return "expect none";
    case kContent:
      return "a content pattern";
    case kLine:
      return "a status line";
    case kFields:
      return "status fields";
  }
  return "?";
}

// Everything a line's parse functions need to report errors.
struct LineContext {
  const std::string& file;
  uint32_t line;
  std::string_view command;  // the command word
  std::string_view usage;    // "write NAME OFFSET LENGTH PATTERN [fua] [as TAG]"
};

[[noreturn]] void fail_at(const LineContext& ctx, uint32_t column, const std::string& problem) {
  throw ScenarioError(SourceLocation{ctx.file, ctx.line, column}, problem);
}

// The arguments of one command: the tokens between the command word and `expect` (or the
// end of the line).
class Args {
 public:
  Args(const std::vector<Token>& tokens, size_t begin, size_t end, const LineContext& ctx)
      : tokens_(tokens), pos_(begin), end_(end), ctx_(ctx) {}

  const LineContext& ctx() const { return ctx_; }
  const Token* peek() const { return pos_ < end_ ? &tokens_[pos_] : nullptr; }
  void advance() { ++pos_; }

  const Token& take(std::string_view what) {
    if (pos_ >= end_)
      fail_at(ctx_, missing_column(),
              "missing " + std::string(what) + " (usage: " + std::string(ctx_.usage) + ")");
    return tokens_[pos_++];
  }

  void finish() const {
    if (pos_ < end_)
      fail(tokens_[pos_], "unexpected " + quote_for_message(tokens_[pos_].spelling()) +
                              " after the arguments of " + std::string(ctx_.command) +
                              " (usage: " + std::string(ctx_.usage) + ")");
  }

  [[noreturn]] void fail(const Token& t, const std::string& problem) const {
    fail_at(ctx_, t.column, problem);
  }

 private:
  // Where a missing argument should be: at `expect` if it follows, else just past the last
  // token.
  uint32_t missing_column() const {
    if (end_ < tokens_.size()) return tokens_[end_].column;
    return tokens_[end_ - 1].end_column;
  }

  const std::vector<Token>& tokens_;
  size_t pos_;
  size_t end_;
  const LineContext& ctx_;
};

struct ParserState {
  std::map<std::string, CommandKind, std::less<>> tags;  // tag -> kind of the IO it names
  std::map<std::string, uint32_t, std::less<>> lost_tags;  // tag -> line of the crash that lost it
};

// ------------------------------------------------------------------------------------------
// Words

bool is_digit(char c) { return c >= '0' && c <= '9'; }

enum class NumberResult { ok, not_a_number, too_large };

// Plain decimal digits (at least one), no sign.
NumberResult parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return NumberResult::not_a_number;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return NumberResult::not_a_number;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (kU64Max - d) / 10) return NumberResult::too_large;
    v = v * 10 + d;
  }
  out = v;
  return NumberResult::ok;
}

bool valid_name(std::string_view s) {
  auto ok_first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
  };
  if (s.empty() || !ok_first(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return ok_first(c) || c == '.' || c == '+' || c == '-' || c == ':';
  });
}

void require_bare(Args& a, const Token& t, std::string_view what) {
  if (t.quoted)
    a.fail(t, std::string(what) + " must be a bare word, not a quoted string (got " +
                  quote_for_message(t.spelling()) + ")");
}

// NAME or TAG.
std::string take_name(Args& a, std::string_view what) {
  const Token& t = a.take(what);
  require_bare(a, t, what);
  if (t.word.size() > kMaxNameBytes)
    a.fail(t, std::string(what) + " " + quote_for_message(t.word) + " is longer than " +
                  std::to_string(kMaxNameBytes) + " bytes");
  if (!valid_name(t.word))
    a.fail(t, "bad " + std::string(what) + " " + quote_for_message(t.word) +
                  ": use letters, digits and _ . + - : (starting with a letter, digit or _)");
  return t.word;
}

// A size in bytes: digits and an optional unit.
uint64_t size_bytes(Args& a, const Token& t, std::string_view what) {
  require_bare(a, t, what);
  const std::string& w = t.word;
  size_t n = 0;
  while (n < w.size() && is_digit(w[n])) ++n;
  std::string label = std::string(what) + " " + quote_for_message(w);
  if (n == 0)
    a.fail(t, "bad " + label + ": expected a decimal number with an optional unit (s, K, M, G, T)");
  std::string_view unit = std::string_view(w).substr(n);
  uint64_t mult;
  if (unit.empty()) {
    mult = 1;
  } else if (unit == "s") {
    mult = 512;
  } else if (unit == "K") {
    mult = uint64_t{1} << 10;
  } else if (unit == "M") {
    mult = uint64_t{1} << 20;
  } else if (unit == "G") {
    mult = uint64_t{1} << 30;
  } else if (unit == "T") {
    mult = uint64_t{1} << 40;
  } else {
    a.fail(t, "bad " + label + ": unknown unit " + quote_for_message(unit) +
                  " (units: s = 512-byte sectors, K, M, G, T; none = bytes)");
  }
  uint64_t v = 0;
  if (parse_decimal(std::string_view(w).substr(0, n), v) != NumberResult::ok || v > kU64Max / mult)
    a.fail(t, label + " is too large (the limit is 2^64-1 bytes)");
  return v * mult;
}

// A size that must be whole sectors; returns sectors.
uint64_t take_sectors(Args& a, std::string_view what, bool allow_zero) {
  const Token& t = a.take(what);
  uint64_t bytes = size_bytes(a, t, what);
  if (bytes % 512 != 0)
    a.fail(t, std::string(what) + " " + quote_for_message(t.word) +
                  " is not a multiple of 512 bytes (it must be whole sectors)");
  if (bytes == 0 && !allow_zero) a.fail(t, std::string(what) + " must not be zero");
  return bytes / 512;
}

// OFFSET LENGTH of an IO: whole sectors, length > 0, end within 2^64 bytes.
std::pair<uint64_t, uint64_t> take_range(Args& a) {
  uint64_t sector = take_sectors(a, "OFFSET", true);
  const Token* length_token = a.peek();
  uint64_t nr = take_sectors(a, "LENGTH", false);
  constexpr uint64_t kMaxSectors = kU64Max / 512 + 1;  // 2^55: 2^64 bytes
  if (nr > kMaxSectors - sector) a.fail(*length_token, "OFFSET + LENGTH ends beyond 2^64 bytes");
  return {sector, nr};
}

std::optional<ContentPattern> parse_byte_value(std::string_view v) {
  uint64_t n = 0;
  if (v.size() >= 3 && v.size() <= 4 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    for (char c : v.substr(2)) {
      unsigned d;
      if (is_digit(c)) {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
      n = n * 16 + d;
    }
    return ContentPattern::byte(static_cast<uint8_t>(n));
  }
  if (parse_decimal(v, n) == NumberResult::ok && n <= 255)
    return ContentPattern::byte(static_cast<uint8_t>(n));
  return std::nullopt;
}

// A content pattern spelt `word` (a suffix of t.word starting at `column`), with t.quoted.
ContentPattern parse_pattern(const LineContext& ctx, const Token& t, std::string_view word,
                             uint32_t column, bool in_expectation) {
  std::string list = in_expectation ? "zero, byte:0xNN, seed:N, text:\"...\", undefined"
                                    : "zero, byte:0xNN, seed:N, text:\"...\"";
  if (word == "text:") {
    if (!t.quoted) fail_at(ctx, column, "text: needs a quoted string, as in text:\"abc\"");
    if (t.quoted->empty()) fail_at(ctx, column, "a text pattern needs at least one byte");
    return ContentPattern::text(*t.quoted);
  }
  if (t.quoted) {
    if (word.empty())
      fail_at(ctx, column, "expected a content pattern (" + list + "), got a quoted string");
    std::string shown = t.spelling().substr(t.word.size() - word.size());
    fail_at(ctx, column, "only text: takes a quoted string (got " + quote_for_message(shown) + ")");
  }
  if (word == "zero") return ContentPattern::zero();
  if (word == "undefined") {
    if (!in_expectation)
      fail_at(ctx, column, "undefined is only allowed in expectations (it has no bytes to write)");
    return ContentPattern::undefined();
  }
  if (word.starts_with("byte:")) {
    auto p = parse_byte_value(word.substr(5));
    if (!p)
      fail_at(
          ctx, column,
          "bad byte value in " + quote_for_message(word) + " (expected 0x00 to 0xff or 0 to 255)");
    return *p;
  }
  if (word.starts_with("seed:")) {
    uint64_t n = 0;
    switch (parse_decimal(word.substr(5), n)) {
      case NumberResult::ok:
        return ContentPattern::seed(n);
      case NumberResult::not_a_number:
        fail_at(ctx, column,
                "bad seed in " + quote_for_message(word) + " (expected a decimal number)");
      case NumberResult::too_large:
        fail_at(ctx, column,
                "seed in " + quote_for_message(word) + " is too large (the limit is 2^64-1)");
    }
  }
  fail_at(ctx, column, "unknown pattern " + quote_for_message(word) + " (patterns: " + list + ")");
}

ContentPattern take_pattern(Args& a, std::string_view what) {
  const Token& t = a.take(what);
  return parse_pattern(a.ctx(), t, t.word, t.column, false);
}

// `as TAG` and other optional words after the fixed arguments.
struct Optionals {
  bool* fua = nullptr;
  bool* noflush = nullptr;
  std::optional<std::string>* tag = nullptr;
};

void take_optionals(Args& a, const Optionals& o) {
  while (const Token* t = a.peek()) {
    bool* flag = nullptr;
    if (o.fua && t->is("fua")) flag = o.fua;
    if (o.noflush && t->is("--noflush")) flag = o.noflush;
    if (flag) {
      if (*flag) a.fail(*t, t->word + " is given twice");
      *flag = true;
      a.advance();
      continue;
    }
    if (o.tag && t->is("as")) {
      if (o.tag->has_value()) a.fail(*t, "as TAG is given twice");
      a.advance();
      *o.tag = take_name(a, "TAG");
      continue;
    }
    break;
  }
  a.finish();
}

// ------------------------------------------------------------------------------------------
// Commands

TableLine take_table(Args& a) {
  const Token& t = a.take("TABLE");
  if (!t.is_string())
    a.fail(t, "the table must be one quoted string, as in " + std::string(a.ctx().command) +
                  " NAME \"0 2097152 thin pool 1\"");
  return parse_table_line(*t.quoted, SourceLocation{a.ctx().file, a.ctx().line, t.column});
}

CommandBody parse_disk(Args& a, ParserState&) {
  DiskCmd c;
  c.name = take_name(a, "NAME");
  c.size_sectors = take_sectors(a, "SIZE", true);
  if (const Token* t = a.peek(); t && t->word.starts_with("fill=")) {
    a.advance();
    c.fill = parse_pattern(a.ctx(), *t, std::string_view(t->word).substr(5), t->column + 5, false);
  }
  a.finish();
  return c;
}

CommandBody parse_resize(Args& a, ParserState&) {
  ResizeCmd c;
  c.name = take_name(a, "NAME");
  c.size_sectors = take_sectors(a, "SIZE", true);
  a.finish();
  return c;
}

// A number in KEY=N: the column of the problem is the value's.
uint64_t key_number(Args& a, const Token& t, size_t key_len, uint64_t min) {
  const std::string_view v = std::string_view(t.word).substr(key_len);
  const uint32_t col = t.column + static_cast<uint32_t>(key_len);
  const std::string key(t.word.substr(0, key_len - 1));
  uint64_t n = 0;
  switch (parse_decimal(v, n)) {
    case NumberResult::ok: break;
    case NumberResult::not_a_number:
      fail_at(a.ctx(), col, "bad " + key + " " + quote_for_message(v) + ": expected a decimal number");
    case NumberResult::too_large:
      fail_at(a.ctx(), col, key + " " + quote_for_message(v) + " is too large (the limit is 2^64-1)");
  }
  if (n < min) fail_at(a.ctx(), col, key + " must be at least " + std::to_string(min));
  return n;
}

fault::IoFaultRule parse_io_error(Args& a) {
  const Token& o = a.take("OPS");
  require_bare(a, o, "OPS");
  fault::IoFaultRule r;
  for (size_t from = 0; from <= o.word.size();) {
    size_t to = o.word.find(',', from);
    if (to == std::string::npos) to = o.word.size();
    const std::string op = o.word.substr(from, to - from);
    const unsigned bit = fault::op_from_string(op);
    if (!bit)
      fail_at(a.ctx(), o.column + static_cast<uint32_t>(from),
              "unknown operation " + quote_for_message(op) +
                  " (operations: read, write, flush, discard, any; several joined by commas)");
    r.ops |= bit;
    from = to + 1;
  }
  bool after = false;
  while (const Token* t = a.peek()) {
    if (t->quoted) break;
    if (t->word.starts_with("after=")) {
      if (after) a.fail(*t, "after= is given twice");
      after = true;
      r.after = key_number(a, *t, 6, 0);
    } else if (t->word.starts_with("count=")) {
      if (r.count) a.fail(*t, "count= is given twice");
      r.count = key_number(a, *t, 6, 1);
    } else {
      break;
    }
    a.advance();
  }
  return r;
}

// A plain decimal count of at least `min`, at most `max`.
uint64_t take_count(Args& a, std::string_view what, uint64_t min, uint64_t max) {
  const Token& t = a.take(what);
  require_bare(a, t, what);
  uint64_t n = 0;
  if (parse_decimal(t.word, n) != NumberResult::ok)
    a.fail(t, "bad " + std::string(what) + " " + quote_for_message(t.word) + ": expected a decimal number");
  if (n < min || n > max)
    a.fail(t, std::string(what) + " must be from " + std::to_string(min) + " to " + std::to_string(max));
  return n;
}

CommandBody parse_fault(Args& a, ParserState&) {
  FaultCmd c;
  c.name = take_name(a, "NAME");
  const Token& k = a.take("FAULT");
  require_bare(a, k, "FAULT");
  constexpr uint64_t kMaxWrites = uint64_t{1} << 32;
  const std::string& w = k.word;
  if (w == "clear") {
    c.action = FaultAction::clear;
  } else if (w == "error") {
    c.action = FaultAction::io_error;
    c.rule = parse_io_error(a);
  } else if (w == "bit-flip") {
    c.action = FaultAction::bit_flip;
    c.sector = take_sectors(a, "OFFSET", true);
    c.count = take_count(a, "BIT", 0, 512 * 8 - 1);
  } else if (w == "latent-error") {
    c.action = FaultAction::latent_error;
    c.sector = take_sectors(a, "OFFSET", true);
    c.count = a.peek() && !a.peek()->quoted ? take_sectors(a, "LENGTH", false) : 1;
    if (c.count > (uint64_t{1} << 24)) a.fail(k, "latent-error LENGTH is limited to 2^24 sectors");
  } else if (w == "lost-writes") {
    c.action = FaultAction::lost_writes;
    c.count = take_count(a, "N", 1, kMaxWrites - 1);
  } else if (w == "misdirected-writes") {
    c.action = FaultAction::misdirected_writes;
    c.count = take_count(a, "N", 1, kMaxWrites - 1);
    const Token& d = a.take("DELTA");
    bool negative = !d.quoted && d.word.starts_with("-");
    Token copy = d;
    if (negative) copy.word.erase(0, 1);
    uint64_t bytes = size_bytes(a, copy, "DELTA");
    if (bytes % 512 != 0 || bytes == 0 || bytes / 512 > (uint64_t{1} << 62))
      a.fail(d, "DELTA " + quote_for_message(d.word) + " must be a non-zero whole number of sectors");
    c.delta_sectors = negative ? -int64_t(bytes / 512) : int64_t(bytes / 512);
  } else if (w == "ignore-flush") {
    c.action = FaultAction::ignore_flush;
  } else {
    a.fail(k, "unknown fault " + quote_for_message(w) +
                  " (faults: error, bit-flip, latent-error, lost-writes, misdirected-writes, ignore-flush, clear)");
  }
  a.finish();
  return c;
}

CommandBody parse_crash(Args& a, ParserState& state) {
  CrashCmd c;
  if (const Token* t = a.peek()) {
    require_bare(a, *t, "keep=");
    if (t->word == "keep=none") {
      c.keep = CrashKeep::none;
    } else if (t->word == "keep=all") {
      c.keep = CrashKeep::all;
    } else if (t->word.starts_with("keep=seed:")) {
      c.keep = CrashKeep::seeded;
      if (parse_decimal(std::string_view(t->word).substr(10), c.seed) != NumberResult::ok)
        a.fail(*t, "bad seed in " + quote_for_message(t->word) + ": expected keep=seed:N, N a decimal number");
    } else {
      a.fail(*t, "unknown crash option " + quote_for_message(t->word) + " (keep=none, keep=all, keep=seed:N)");
    }
    a.advance();
  }
  a.finish();
  // IO in flight is lost with the power: its tags cannot be completed afterwards.
  for (auto& [tag, kind] : state.tags) state.lost_tags[tag] = a.ctx().line;
  state.tags.clear();
  return c;
}

CommandBody parse_check(Args& a, ParserState&) {
  CheckCmd c;
  c.name = take_name(a, "NAME");
  if (const Token* t = a.peek(); t && t->is("--clear-needs-check-flag")) {
    c.clear_needs_check = true;
    a.advance();
  }
  a.finish();
  return c;
}

CommandBody parse_create(Args& a, ParserState&) {
  CreateCmd c;
  c.name = take_name(a, "NAME");
  c.table = take_table(a);
  a.finish();
  return c;
}

CommandBody parse_reload(Args& a, ParserState&) {
  ReloadCmd c;
  c.name = take_name(a, "NAME");
  c.table = take_table(a);
  a.finish();
  return c;
}

CommandBody parse_suspend(Args& a, ParserState&) {
  SuspendCmd c;
  c.name = take_name(a, "NAME");
  take_optionals(a, {.noflush = &c.noflush});
  return c;
}

CommandBody parse_resume(Args& a, ParserState&) {
  ResumeCmd c;
  c.name = take_name(a, "NAME");
  a.finish();
  return c;
}

CommandBody parse_remove(Args& a, ParserState&) {
  RemoveCmd c;
  c.name = take_name(a, "NAME");
  a.finish();
  return c;
}

CommandBody parse_message(Args& a, ParserState&) {
  MessageCmd c;
  c.name = take_name(a, "NAME");
  const Token& s = a.take("SECTOR");
  require_bare(a, s, "SECTOR");
  switch (parse_decimal(s.word, c.sector)) {
    case NumberResult::ok:
      break;
    case NumberResult::not_a_number:
      a.fail(s, "bad SECTOR " + quote_for_message(s.word) +
                    ": expected a decimal sector number (usually 0)");
    case NumberResult::too_large:
      a.fail(s, "SECTOR " + quote_for_message(s.word) + " is too large (the limit is 2^64-1)");
  }
  const Token& m = a.take("MESSAGE");
  if (!m.is_string())
    a.fail(m, "the message must be one quoted string, as in message pool 0 \"create_thin 0\"");
  c.text = *m.quoted;
  a.finish();
  return c;
}

CommandBody parse_status(Args& a, ParserState&) {
  StatusCmd c;
  c.name = take_name(a, "NAME");
  take_optionals(a, {.noflush = &c.noflush});
  return c;
}

CommandBody parse_table(Args& a, ParserState&) {
  TableCmd c;
  c.name = take_name(a, "NAME");
  a.finish();
  return c;
}

CommandBody parse_write(Args& a, ParserState&) {
  WriteCmd c;
  c.name = take_name(a, "NAME");
  std::tie(c.sector, c.nr_sectors) = take_range(a);
  c.pattern = take_pattern(a, "PATTERN");
  take_optionals(a, {.fua = &c.fua, .tag = &c.tag});
  return c;
}

CommandBody parse_read(Args& a, ParserState&) {
  ReadCmd c;
  c.name = take_name(a, "NAME");
  std::tie(c.sector, c.nr_sectors) = take_range(a);
  take_optionals(a, {.tag = &c.tag});
  return c;
}

CommandBody parse_discard(Args& a, ParserState&) {
  DiscardCmd c;
  c.name = take_name(a, "NAME");
  std::tie(c.sector, c.nr_sectors) = take_range(a);
  take_optionals(a, {.tag = &c.tag});
  return c;
}

CommandBody parse_flush(Args& a, ParserState&) {
  FlushCmd c;
  c.name = take_name(a, "NAME");
  take_optionals(a, {.tag = &c.tag});
  return c;
}

CommandBody parse_sleep(Args& a, ParserState&) {
  const Token& t = a.take("DURATION");
  require_bare(a, t, "DURATION");
  const std::string& w = t.word;
  size_t n = 0;
  while (n < w.size() && is_digit(w[n])) ++n;
  std::string label = "DURATION " + quote_for_message(w);
  if (n == 0) a.fail(t, "bad " + label + ": expected a decimal number and a unit (ms, s or m)");
  std::string_view unit = std::string_view(w).substr(n);
  uint64_t factor;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit.empty()) {
    a.fail(t, "bad " + label + ": a duration needs a unit (ms, s or m)");
  } else {
    a.fail(t, "bad " + label + ": unknown unit " + quote_for_message(unit) + " (units: ms, s, m)");
  }
  constexpr uint64_t kMaxMs = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t v = 0;
  if (parse_decimal(std::string_view(w).substr(0, n), v) != NumberResult::ok || v > kMaxMs / factor)
    a.fail(t, label + " is too large (the limit is 2^63-1 milliseconds)");
  a.finish();
  SleepCmd c;
  c.duration = std::chrono::milliseconds(static_cast<int64_t>(v * factor));
  return c;
}

CommandBody parse_complete(Args& a, ParserState& state) {
  CompleteCmd c;
  const Token* t = a.peek();
  c.tag = take_name(a, "TAG");
  auto it = state.tags.find(c.tag);
  if (it == state.tags.end()) {
    if (auto lost = state.lost_tags.find(c.tag); lost != state.lost_tags.end())
      a.fail(*t, "the IO tagged " + quote_for_message(c.tag) + " was lost in the crash at line " +
                     std::to_string(lost->second));
    a.fail(*t, "no earlier IO is tagged " + quote_for_message(c.tag) +
                   " (tag one with: write ... as " + c.tag + ")");
  }
  c.io_kind = it->second;
  a.finish();
  return c;
}

CommandBody parse_event(Args& a, ParserState&) {
  EventCmd c;
  c.name = take_name(a, "NAME");
  a.finish();
  return c;
}

// The command table: adding a command is one entry here (plus its struct in scenario_ast.h
// and its parse function). An entry without a parse function is reserved.
struct CommandSpec {
  std::string_view word;
  std::string_view usage;
  CommandBody (*parse)(Args&, ParserState&);
  unsigned forms;  // the expectations it accepts
};

constexpr unsigned kIo = kOk | kError | kQueued;

constexpr CommandSpec kCommands[] = {
    {"disk", "disk NAME SIZE [fill=PATTERN]", parse_disk, kOk | kError},
    {"resize", "resize NAME SIZE", parse_resize, kOk | kError},
    {"create", "create NAME \"TABLE\"", parse_create, kOk | kError},
    {"reload", "reload NAME \"TABLE\"", parse_reload, kOk | kError},
    {"suspend", "suspend NAME [--noflush]", parse_suspend, kOk | kError},
    {"resume", "resume NAME", parse_resume, kOk | kError},
    {"remove", "remove NAME", parse_remove, kOk | kError},
    {"message", "message NAME SECTOR \"MESSAGE\"", parse_message, kOk | kError},
    {"status", "status NAME [--noflush]", parse_status, kOk | kError | kLine | kFields},
    {"table", "table NAME", parse_table, kOk | kError | kLine},
    {"write", "write NAME OFFSET LENGTH PATTERN [fua] [as TAG]", parse_write, kIo},
    {"read", "read NAME OFFSET LENGTH [as TAG]", parse_read, kIo | kContent},
    {"discard", "discard NAME OFFSET LENGTH [as TAG]", parse_discard, kIo},
    {"flush", "flush NAME [as TAG]", parse_flush, kIo},
    {"sleep", "sleep DURATION", parse_sleep, kOk},
    {"complete", "complete TAG", parse_complete, kOk | kError | kQueued | kContent},
    {"event", "event NAME", parse_event, kOk | kNone},
    {"fault",
     "fault NAME error OPS [after=N] [count=N] | fault NAME bit-flip OFFSET BIT | "
     "fault NAME latent-error OFFSET [LENGTH] | fault NAME lost-writes N | "
     "fault NAME misdirected-writes N [-]DELTA | fault NAME ignore-flush | fault NAME clear",
     parse_fault, kOk | kError},
    {"check", "check NAME [--clear-needs-check-flag]", parse_check, kOk | kError},
    {"crash", "crash [keep=none|keep=all|keep=seed:N]", parse_crash, kOk},
};

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

const CommandSpec& find_command(const Token& t, const LineContext& ctx) {
  if (t.quoted)
    fail_at(ctx, t.column,
            "expected a command word, got the quoted string " + quote_for_message(t.spelling()));
  for (const auto& spec : kCommands) {
    if (spec.word != t.word) continue;
    if (!spec.parse)
      fail_at(ctx, t.column,
              t.word + " directives are not supported yet (they arrive with crash exploration)");
    return spec;
  }
  if (t.word == "expect") fail_at(ctx, t.column, "expect needs a command before it");
  std::string problem = "unknown command " + quote_for_message(t.word);
  if (t.word.size() <= 32) {
    for (const auto& spec : kCommands) {
      if (spec.parse && edit_distance(t.word, spec.word) <= 2) {
        problem += " (did you mean " + std::string(spec.word) + "?)";
        break;
      }
    }
  }
  fail_at(ctx, t.column, problem);
}

// ------------------------------------------------------------------------------------------
// Expectations

bool looks_like_pattern(const Token& t) {
  std::string_view w = t.word;
  return w == "zero" || w == "undefined" || w.starts_with("byte:") || w.starts_with("seed:") ||
         w.starts_with("text:");
}

// What a field's value may be: a decimal number (optionally "-" for none), or one of a few
// words.
struct FieldRule {
  bool dash_allowed = false;
  std::span<const std::string_view> words;  // empty: a number
};

FieldRule field_rule(StatusField f) {
  static constexpr std::string_view kModes[] = {"rw", "ro", "out_of_data_space"};
  static constexpr std::string_view kDiscards[] = {"discard_passdown", "no_discard_passdown",
                                                   "ignore_discard"};
  static constexpr std::string_view kNoSpace[] = {"queue_if_no_space", "error_if_no_space"};
  static constexpr std::string_view kNeedsCheck[] = {"needs_check", "-"};
  switch (f) {
    case StatusField::held_root:
    case StatusField::highest_sector:
      return {true, {}};
    case StatusField::mode:
      return {false, kModes};
    case StatusField::discard:
      return {false, kDiscards};
    case StatusField::no_space:
      return {false, kNoSpace};
    case StatusField::needs_check:
      return {false, kNeedsCheck};
    default:
      return {false, {}};
  }
}

std::string all_field_names() {
  std::string pool, thin;
  for (size_t i = 0; i <= static_cast<size_t>(StatusField::highest_sector); ++i) {
    auto f = static_cast<StatusField>(i);
    std::string& list = is_thin_status_field(f) ? thin : pool;
    if (!list.empty()) list += ", ";
    list += status_field_name(f);
  }
  return "pool: " + pool + "; thin: " + thin;
}

ExpectFields parse_fields(const LineContext& ctx, const std::vector<Token>& tokens, size_t i) {
  ExpectFields e;
  std::optional<StatusField> first;
  for (; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    size_t eq = t.word.find('=');
    if (eq == std::string::npos)
      fail_at(ctx, t.column, "expected FIELD=VALUE, got " + quote_for_message(t.spelling()));
    std::string_view key = std::string_view(t.word).substr(0, eq);
    if (key.empty()) fail_at(ctx, t.column, "missing field name before =");
    auto field = status_field_from_name(key);
    if (!field)
      fail_at(ctx, t.column,
              "unknown status field " + quote_for_message(key) + " (" + all_field_names() + ")");
    uint32_t value_column = t.column + static_cast<uint32_t>(eq + 1);
    std::string value = t.word.substr(eq + 1);
    if (t.quoted) {
      if (!value.empty())
        fail_at(ctx, value_column,
                "bad value " + quote_for_message(t.spelling().substr(eq + 1)) + " for " +
                    std::string(key));
      value = *t.quoted;
    }
    for (const auto& prev : e.fields)
      if (prev.field == *field)
        fail_at(ctx, t.column, "status field " + std::string(key) + " is given twice");
    if (first && is_thin_status_field(*first) != is_thin_status_field(*field))
      fail_at(ctx, t.column,
              std::string(key) + " is a " + (is_thin_status_field(*field) ? "thin" : "pool") +
                  " field but " + std::string(status_field_name(*first)) + " is a " +
                  (is_thin_status_field(*first) ? "thin" : "pool") +
                  " field; a status line has one kind");
    if (!first) first = field;
    if (value.empty()) fail_at(ctx, value_column, "missing value for " + std::string(key));

    FieldRule rule = field_rule(*field);
    if (!rule.words.empty()) {
      if (std::find(rule.words.begin(), rule.words.end(), value) == rule.words.end()) {
        std::string list;
        for (auto w : rule.words) list += (list.empty() ? "" : ", ") + std::string(w);
        fail_at(ctx, value_column,
                "bad value " + quote_for_message(value) + " for " + std::string(key) +
                    " (expected one of: " + list + ")");
      }
    } else if (!(rule.dash_allowed && value == "-")) {
      uint64_t n = 0;
      switch (parse_decimal(value, n)) {
        case NumberResult::ok:
          value = std::to_string(n);  // the kernel prints no leading zeros
          break;
        case NumberResult::not_a_number:
          fail_at(ctx, value_column,
                  "bad value " + quote_for_message(value) + " for " + std::string(key) +
                      (rule.dash_allowed ? " (expected a decimal number or -)"
                                         : " (expected a decimal number)"));
        case NumberResult::too_large:
          fail_at(ctx, value_column,
                  "value " + quote_for_message(value) + " for " + std::string(key) +
                      " is too large (the limit is 2^64-1)");
      }
    }
    e.fields.push_back(FieldExpectation{*field, std::move(value)});
  }
  return e;
}

// Parses `expect ...` starting at tokens[at] (the `expect` word).
Expectation parse_expectation(const LineContext& ctx, const std::vector<Token>& tokens, size_t at,
                              unsigned forms, const std::string& content_note) {
  const Token& kw = tokens[at];
  Expectation e;
  e.location = SourceLocation{ctx.file, ctx.line, kw.column};
  std::string accepts =
      " (" + std::string(ctx.command) + " accepts: " + accepted_forms(forms) + ")";
  if (at + 1 == tokens.size())
    fail_at(ctx, kw.end_column, "missing expectation after expect" + accepts);
  const Token& t = tokens[at + 1];

  Form form;
  if (t.is("ok")) {
    form = kOk;
  } else if (t.is("error")) {
    form = kError;
  } else if (t.is("queued")) {
    form = kQueued;
  } else if (t.is("none")) {
    form = kNone;
  } else if (t.is("Fail") || t.is_string()) {
    form = kLine;
  } else if (t.word.find('=') != std::string::npos) {
    form = kFields;
  } else if (looks_like_pattern(t)) {
    form = kContent;
  } else {
    fail_at(ctx, t.column, "unknown expectation " + quote_for_message(t.spelling()) + accepts);
  }
  if (!(forms & form)) {
    if (form == kContent && !content_note.empty()) fail_at(ctx, t.column, content_note);
    fail_at(ctx, t.column,
            std::string(form_name(form)) + " cannot be used with " + std::string(ctx.command) +
                accepts);
  }

  // The last token the form consumes; anything after it is an error.
  size_t last = at + 1;
  switch (form) {
    case kOk:
      e.body = ExpectOk{};
      break;
    case kQueued:
      e.body = ExpectQueued{};
      break;
    case kNone:
      e.body = ExpectNone{};
      break;
    case kLine:
      e.body = ExpectLine{t.is_string() ? *t.quoted : std::string("Fail")};
      break;
    case kContent:
      e.body = ExpectContent{parse_pattern(ctx, t, t.word, t.column, true)};
      break;
    case kFields:
      e.body = parse_fields(ctx, tokens, at + 1);
      last = tokens.size() - 1;
      break;
    case kError: {
      ExpectError err;
      if (at + 2 == tokens.size())
        fail_at(ctx, t.end_column, "missing errno name after error (as in: expect error EEXIST)");
      const Token& name = tokens[at + 2];
      std::optional<int> value = name.quoted ? std::nullopt : errno_from_name(name.word);
      if (!value)
        fail_at(ctx, name.column,
                "unknown errno name " + quote_for_message(name.spelling()) + " (known: " +
                    known_errno_names() + ")");
      err.errno_value = *value;
      last = at + 2;
      if (at + 3 < tokens.size()) {
        const Token& sub = tokens[at + 3];
        if (!sub.is_string())
          fail_at(ctx, sub.column,
                  "expected a quoted substring of the error message after " + name.word + ", got " +
                      quote_for_message(sub.spelling()));
        err.message_substring = *sub.quoted;
        last = at + 3;
      }
      e.body = std::move(err);
      break;
    }
  }
  if (last + 1 < tokens.size()) {
    const Token& extra = tokens[last + 1];
    fail_at(ctx, extra.column,
            "unexpected " + quote_for_message(extra.spelling()) + " after the expectation");
  }
  return e;
}

std::optional<std::string> io_tag(const CommandBody& body) {
  if (auto* w = std::get_if<WriteCmd>(&body)) return w->tag;
  if (auto* r = std::get_if<ReadCmd>(&body)) return r->tag;
  if (auto* d = std::get_if<DiscardCmd>(&body)) return d->tag;
  if (auto* f = std::get_if<FlushCmd>(&body)) return f->tag;
  return std::nullopt;
}

Command parse_command(const std::vector<Token>& tokens, const std::string& file, uint32_t line,
                      ParserState& state) {
  LineContext probe{file, line, "", ""};
  const CommandSpec& spec = find_command(tokens[0], probe);
  LineContext ctx{file, line, spec.word, spec.usage};

  size_t expect_at = tokens.size();
  for (size_t i = 1; i < tokens.size(); ++i) {
    if (tokens[i].is("expect")) {
      expect_at = i;
      break;
    }
  }
  Args args(tokens, 1, expect_at, ctx);
  Command c;
  c.location = SourceLocation{file, line, tokens[0].column};
  c.body = spec.parse(args, state);

  if (expect_at < tokens.size()) {
    unsigned forms = spec.forms;
    std::string content_note;
    if (auto* done = std::get_if<CompleteCmd>(&c.body);
        done && done->io_kind != CommandKind::read) {
      forms &= ~unsigned{kContent};
      content_note = "a content pattern applies only to complete of a read; " +
                     quote_for_message(done->tag) + " tags a " +
                     std::string(command_name(done->io_kind));
    }
    c.expect = parse_expectation(ctx, tokens, expect_at, forms, content_note);
  }
  if (auto tag = io_tag(c.body)) state.tags[*tag] = c.kind();
  return c;
}

}  // namespace

ScenarioError::ScenarioError(SourceLocation location, const std::string& problem)
    : std::runtime_error(location.file.empty() && location.line == 0
                             ? problem
                             : to_string(location) + ": " + problem),
      location_(std::move(location)),
      problem_(problem) {}

namespace {

[[noreturn]] void throw_at(const SourceLocation& where, const std::string& problem) {
  throw ScenarioError(where, problem);
}

}  // namespace

TableLine parse_table_line(std::string_view text, const SourceLocation& where) {
  auto fail = [&](const std::string& problem) { throw_at(where, problem); };
  // A single trailing line break is tolerated; a second line is a second target.
  std::string_view body = text;
  if (body.ends_with('\n')) body.remove_suffix(1);
  if (body.find('\n') != std::string_view::npos)
    fail("a table has one target line here; this one has several");

  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < body.size()) {
    if (body[i] == ' ' || body[i] == '\t' || body[i] == '\r') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < body.size() && body[j] != ' ' && body[j] != '\t' && body[j] != '\r') ++j;
    fields.push_back(body.substr(i, j - i));
    i = j;
  }
  if (fields.empty()) fail("empty table line (expected START LENGTH TARGET [ARGS...])");
  if (fields.size() < 3)
    fail("table line " + quote_for_message(text) +
         " has no target type (expected START LENGTH TARGET [ARGS...])");
  TableLine t;
  auto number = [&](std::string_view field, std::string_view what, uint64_t& out) {
    switch (parse_decimal(field, out)) {
      case NumberResult::ok:
        return;
      case NumberResult::not_a_number:
        throw_at(where, "bad table " + std::string(what) + " " + quote_for_message(field) +
                            ": expected a decimal number of sectors");
      case NumberResult::too_large:
        throw_at(where, "table " + std::string(what) + " " + quote_for_message(field) +
                            " is too large (the limit is 2^64-1)");
    }
  };
  number(fields[0], "start", t.start);
  number(fields[1], "length", t.length);
  t.target = std::string(fields[2]);
  for (size_t k = 3; k < fields.size(); ++k) t.args.emplace_back(fields[k]);
  return t;
}

Scenario parse_scenario(std::string_view text, std::string file, const ParseOptions& options) {
  if (text.size() > options.max_input_bytes)
    throw ScenarioError(
        SourceLocation{file, 0, 0},
        "scenario is larger than " + std::to_string(options.max_input_bytes) + " bytes");
  // Columns are 32-bit.
  size_t max_line = std::min<size_t>(options.max_line_bytes, UINT32_MAX - 2);

  Scenario scenario;
  scenario.file = file;
  ParserState state;
  size_t pos = 0;
  uint64_t line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (++line_no > UINT32_MAX)
      throw ScenarioError(SourceLocation{file, 0, 0}, "scenario has more than 2^32-1 lines");
    auto ln = static_cast<uint32_t>(line_no);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.size() > max_line)
      throw ScenarioError(SourceLocation{file, ln, static_cast<uint32_t>(max_line + 1)},
                          "line is longer than " + std::to_string(max_line) + " bytes");
    std::vector<Token> tokens = lex_line(line, file, ln);
    if (tokens.empty()) continue;
    if (scenario.commands.size() >= options.max_commands)
      throw ScenarioError(
          SourceLocation{file, ln, tokens[0].column},
          "too many commands (the limit is " + std::to_string(options.max_commands) + ")");
    scenario.commands.push_back(parse_command(tokens, file, ln, state));
  }
  return scenario;
}

Scenario parse_scenario_file(const std::filesystem::path& path, const ParseOptions& options) {
  std::string name = path.string();
  auto fail = [&](const std::string& why) {
    throw ScenarioError(SourceLocation{name, 0, 0}, "cannot read scenario: " + why);
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("it is a directory");
  auto close = [](FILE* file) { std::fclose(file); };
  std::unique_ptr<FILE, decltype(close)> f(std::fopen(path.c_str(), "rb"), close);
  if (!f) fail(std::generic_category().message(errno));
  std::string text;
  char buf[65536];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, f.get());
    text.append(buf, n);
    if (text.size() > options.max_input_bytes)
      throw ScenarioError(
          SourceLocation{name, 0, 0},
          "scenario is larger than " + std::to_string(options.max_input_bytes) + " bytes");
    if (n < sizeof buf) {
      if (std::ferror(f.get())) fail(std::generic_category().message(errno));
      break;
    }
  }
  return parse_scenario(text, name, options);
}

}  // namespace thinsim::harness
