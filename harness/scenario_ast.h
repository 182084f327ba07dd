// The parsed form of a scenario file (docs/scenario-language.md).
//
// A Scenario is a list of Commands in file order. Each Command has the location of its command
// word, a body (one struct per command, held in a std::variant whose alternative order matches
// CommandKind) and an optional Expectation. An executor typically does
//
//   for (const Command& c : scenario.commands)
//     switch (c.kind()) {
//       case CommandKind::write: { const WriteCmd& w = c.as<WriteCmd>(); ... }
//       ...
//     }
// or std::visit over c.body.
//
// Units: everything the executor receives about the block layer is in 512-byte sectors
// (the parser has already checked that sizes are whole sectors); content patterns take
// byte offsets (sector * 512). Durations are milliseconds.
//
// Without an expectation a command must succeed (for `event`: an event must have been
// raised); the parser leaves `expect` empty rather than filling in a default.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fault/io_fault.h"
#include "harness/content_pattern.h"

namespace thinsim::harness {

// 1-based line and column (columns count bytes; a tab is one column). line == 0 means the
// whole file (e.g. it cannot be read).
struct SourceLocation {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;

  friend bool operator==(const SourceLocation&, const SourceLocation&) = default;
};

// "FILE:LINE:COLUMN", or just "FILE" when line is 0.
std::string to_string(const SourceLocation& loc);

// ------------------------------------------------------------------------------------------
// Device-mapper table lines

// One dmsetup table line: "<start> <length> <target type> <args...>", start and length in
// sectors. Only the shape is checked by the parser; what the target makes of its arguments
// (and whether start/length are acceptable) is for the executor to decide, with the
// kernel's errors.
struct TableLine {
  uint64_t start = 0;
  uint64_t length = 0;
  std::string target;  // "thin-pool", "thin", ...
  std::vector<std::string> args;

  std::string to_string() const;  // fields joined by single spaces
  friend bool operator==(const TableLine&, const TableLine&) = default;
};

// ------------------------------------------------------------------------------------------
// Commands

enum class CommandKind {
  disk,
  resize,
  create,
  reload,
  suspend,
  resume,
  remove,
  message,
  status,
  table,
  write,
  read,
  discard,
  flush,
  sleep,
  complete,
  event,
  fault,
  check,
  crash,
};

// The command word: "disk", "create", ...
std::string_view command_name(CommandKind kind);

// disk NAME SIZE [fill=PATTERN]: a simulated memory disk.
struct DiskCmd {
  static constexpr CommandKind kind = CommandKind::disk;
  std::string name;
  uint64_t size_sectors = 0;
  ContentPattern fill;  // initial contents; zero unless fill= was given
  friend bool operator==(const DiskCmd&, const DiskCmd&) = default;
};

// resize NAME SIZE: grow or shrink a disk under whatever uses it (lvresize); the pool
// notices at its next resume.
struct ResizeCmd {
  static constexpr CommandKind kind = CommandKind::resize;
  std::string name;
  uint64_t size_sectors = 0;
  friend bool operator==(const ResizeCmd&, const ResizeCmd&) = default;
};

// create NAME "TABLE": dmsetup create (load the table, then resume).
struct CreateCmd {
  static constexpr CommandKind kind = CommandKind::create;
  std::string name;
  TableLine table;
  friend bool operator==(const CreateCmd&, const CreateCmd&) = default;
};

// reload NAME "TABLE": load an inactive table; it takes effect on the next resume.
struct ReloadCmd {
  static constexpr CommandKind kind = CommandKind::reload;
  std::string name;
  TableLine table;
  friend bool operator==(const ReloadCmd&, const ReloadCmd&) = default;
};

struct SuspendCmd {
  static constexpr CommandKind kind = CommandKind::suspend;
  std::string name;
  bool noflush = false;
  friend bool operator==(const SuspendCmd&, const SuspendCmd&) = default;
};

struct ResumeCmd {
  static constexpr CommandKind kind = CommandKind::resume;
  std::string name;
  friend bool operator==(const ResumeCmd&, const ResumeCmd&) = default;
};

struct RemoveCmd {
  static constexpr CommandKind kind = CommandKind::remove;
  std::string name;
  friend bool operator==(const RemoveCmd&, const RemoveCmd&) = default;
};

// message NAME SECTOR "MESSAGE": the text is passed as given (split it as dm does).
struct MessageCmd {
  static constexpr CommandKind kind = CommandKind::message;
  std::string name;
  uint64_t sector = 0;
  std::string text;
  friend bool operator==(const MessageCmd&, const MessageCmd&) = default;
};

// status NAME [--noflush]: the INFO status line.
struct StatusCmd {
  static constexpr CommandKind kind = CommandKind::status;
  std::string name;
  bool noflush = false;
  friend bool operator==(const StatusCmd&, const StatusCmd&) = default;
};

// table NAME: the TABLE status line.
struct TableCmd {
  static constexpr CommandKind kind = CommandKind::table;
  std::string name;
  friend bool operator==(const TableCmd&, const TableCmd&) = default;
};

// write NAME OFFSET LENGTH PATTERN [fua] [as TAG]
struct WriteCmd {
  static constexpr CommandKind kind = CommandKind::write;
  std::string name;
  uint64_t sector = 0;
  uint64_t nr_sectors = 0;  // > 0
  ContentPattern pattern;   // never undefined
  bool fua = false;
  std::optional<std::string> tag;
  friend bool operator==(const WriteCmd&, const WriteCmd&) = default;
};

// read NAME OFFSET LENGTH [as TAG]
struct ReadCmd {
  static constexpr CommandKind kind = CommandKind::read;
  std::string name;
  uint64_t sector = 0;
  uint64_t nr_sectors = 0;  // > 0
  std::optional<std::string> tag;
  friend bool operator==(const ReadCmd&, const ReadCmd&) = default;
};

// discard NAME OFFSET LENGTH [as TAG]
struct DiscardCmd {
  static constexpr CommandKind kind = CommandKind::discard;
  std::string name;
  uint64_t sector = 0;
  uint64_t nr_sectors = 0;  // > 0
  std::optional<std::string> tag;
  friend bool operator==(const DiscardCmd&, const DiscardCmd&) = default;
};

// flush NAME [as TAG]: an empty REQ_PREFLUSH bio.
struct FlushCmd {
  static constexpr CommandKind kind = CommandKind::flush;
  std::string name;
  std::optional<std::string> tag;
  friend bool operator==(const FlushCmd&, const FlushCmd&) = default;
};

// sleep DURATION: advance simulated time.
struct SleepCmd {
  static constexpr CommandKind kind = CommandKind::sleep;
  std::chrono::milliseconds duration{0};
  friend bool operator==(const SleepCmd&, const SleepCmd&) = default;
};

// complete TAG: the IO tagged TAG (by the most recent earlier `as TAG`) has completed.
struct CompleteCmd {
  static constexpr CommandKind kind = CommandKind::complete;
  std::string tag;
  CommandKind io_kind = CommandKind::write;  // write, read, discard or flush
  friend bool operator==(const CompleteCmd&, const CompleteCmd&) = default;
};

// event NAME: a dm event was raised on NAME since the previous `event NAME` (or the start).
struct EventCmd {
  static constexpr CommandKind kind = CommandKind::event;
  std::string name;
  friend bool operator==(const EventCmd&, const EventCmd&) = default;
};

// Faults on a disk (docs/scenario-language.md, "Faults"):
//   fault NAME error OPS [after=N] [count=N]  IO errors: the operations OPS fail with EIO,
//                                              after `after` of them succeed, `count` times
//                                              or until cleared
//   fault NAME bit-flip OFFSET BIT             the media: the sector at OFFSET reads with bit
//                                              BIT (0-4095) inverted
//   fault NAME latent-error OFFSET [LENGTH]    reads of these sectors fail with EIO until
//                                              they are written again
//   fault NAME lost-writes N                   the next N writes complete but reach nothing
//   fault NAME misdirected-writes N [-]DELTA   the next N writes land DELTA sectors away
//   fault NAME ignore-flush                    the cache acknowledges FLUSH and FUA without
//                                              making anything durable
//   fault NAME clear                           all of the above end
// The media faults and ignore-flush need a simulated disk (a run gives every disk one when
// the scenario has such a fault or a crash).
enum class FaultAction { io_error, clear, bit_flip, latent_error, lost_writes, misdirected_writes, ignore_flush };

struct FaultCmd {
  static constexpr CommandKind kind = CommandKind::fault;
  std::string name;
  FaultAction action = FaultAction::clear;
  std::optional<fault::IoFaultRule> rule;  // io_error only
  uint64_t sector = 0;                     // bit_flip, latent_error
  uint64_t count = 0;  // bit_flip: the bit; latent_error: sectors; lost/misdirected: writes
  int64_t delta_sectors = 0;  // misdirected_writes
  friend bool operator==(const FaultCmd&, const FaultCmd&) = default;
};

// Does this fault need a simulated disk (a media fault or a lying cache)?
bool needs_sim_disk(FaultAction a);
std::string_view fault_action_name(FaultAction a);  // "error", "bit-flip", ...

// crash [keep=none|all|seed:N]: a power cut. Every disk keeps what was durable and, of the
// writes in its volatile cache, none, all or a seeded choice (whole writes); every mapped
// device is gone without a suspend or a commit, IO in flight is lost. The scenario goes
// on from there (typically: create the pool again and look at what survived).
enum class CrashKeep { none, all, seeded };

struct CrashCmd {
  static constexpr CommandKind kind = CommandKind::crash;
  CrashKeep keep = CrashKeep::none;
  uint64_t seed = 0;  // seeded
  friend bool operator==(const CrashCmd&, const CrashCmd&) = default;
};

// check NAME [--clear-needs-check-flag]: thin_check on a metadata disk no live pool uses.
struct CheckCmd {
  static constexpr CommandKind kind = CommandKind::check;
  std::string name;
  bool clear_needs_check = false;
  friend bool operator==(const CheckCmd&, const CheckCmd&) = default;
};

// Alternatives in CommandKind order (checked by static_asserts in scenario_parser.cc).
using CommandBody = std::variant<DiskCmd, ResizeCmd, CreateCmd, ReloadCmd, SuspendCmd, ResumeCmd, RemoveCmd,
                                 MessageCmd, StatusCmd, TableCmd, WriteCmd, ReadCmd, DiscardCmd,
                                 FlushCmd, SleepCmd, CompleteCmd, EventCmd, FaultCmd, CheckCmd, CrashCmd>;

// ------------------------------------------------------------------------------------------
// Expectations

// The named fields of a status line. Pool INFO:
//   transaction_id used_metadata/total_metadata used_data/total_data held_root mode discard
//   no_space needs_check metadata_low_water
// Thin INFO: mapped_sectors highest_sector.
enum class StatusField {
  transaction_id,
  used_metadata,
  total_metadata,
  used_data,
  total_data,
  held_root,
  mode,
  discard,
  no_space,
  needs_check,
  metadata_low_water,
  mapped_sectors,
  highest_sector,
};

std::string_view status_field_name(StatusField field);
std::optional<StatusField> status_field_from_name(std::string_view name);
bool is_thin_status_field(StatusField field);  // mapped_sectors, highest_sector

// KEY=VALUE: the field's text in the status line must equal `value` exactly (the parser
// has checked that it is a possible value: a decimal number, "-" where the kernel prints
// one, or one of the field's words).
struct FieldExpectation {
  StatusField field;
  std::string value;
  friend bool operator==(const FieldExpectation&, const FieldExpectation&) = default;
};

// expect ok
struct ExpectOk {
  friend bool operator==(const ExpectOk&, const ExpectOk&) = default;
};

// expect error ERRNO ["substring"]: the command fails with this errno, and its message
// contains the substring if one is given.
struct ExpectError {
  int errno_value = 0;  // positive, e.g. EEXIST
  std::optional<std::string> message_substring;
  friend bool operator==(const ExpectError&, const ExpectError&) = default;
};

// expect queued: the IO is held by the pool (neither completed nor failed); on `complete`,
// the tagged IO is still held.
struct ExpectQueued {
  friend bool operator==(const ExpectQueued&, const ExpectQueued&) = default;
};

// expect none: `event` only; no event was raised.
struct ExpectNone {
  friend bool operator==(const ExpectNone&, const ExpectNone&) = default;
};

// expect PATTERN: `read` (and `complete` of a read): the data read matches the pattern at
// the device offsets it was read from.
struct ExpectContent {
  ContentPattern pattern;
  friend bool operator==(const ExpectContent&, const ExpectContent&) = default;
};

// expect "LINE" (status, table) or expect Fail (== expect "Fail"): the whole line, exactly.
struct ExpectLine {
  std::string line;
  friend bool operator==(const ExpectLine&, const ExpectLine&) = default;
};

// expect KEY=VALUE...: status only; the named fields, in the order written, no duplicates,
// all pool fields or all thin fields.
struct ExpectFields {
  std::vector<FieldExpectation> fields;
  friend bool operator==(const ExpectFields&, const ExpectFields&) = default;
};

using ExpectationBody = std::variant<ExpectOk, ExpectError, ExpectQueued, ExpectNone, ExpectContent,
                                     ExpectLine, ExpectFields>;

struct Expectation {
  SourceLocation location;  // the `expect` word
  ExpectationBody body;
  friend bool operator==(const Expectation&, const Expectation&) = default;
};

// The errno names the language knows: EEXIST ENODATA EINVAL EBUSY ENOSPC EIO EOPNOTSUPP
// EPERM ENXIO ENOMEM ENODEV EUCLEAN EILSEQ ENOTBLK.
std::optional<int> errno_from_name(std::string_view name);
std::string_view errno_name(int errno_value);  // "" when not one of the above
std::string known_errno_names();               // "EEXIST, ENODATA, ..." in the order above

// ------------------------------------------------------------------------------------------
// Scenario

struct Command {
  SourceLocation location;  // the command word
  CommandBody body;
  std::optional<Expectation> expect;

  CommandKind kind() const { return static_cast<CommandKind>(body.index()); }
  template <class T>
  const T& as() const {
    return std::get<T>(body);
  }
  template <class T>
  T& as() {
    return std::get<T>(body);
  }
  friend bool operator==(const Command&, const Command&) = default;
};

struct Scenario {
  std::string file;  // as given to the parser; locations repeat it
  std::vector<Command> commands;
};

// The canonical scenario-language text of a command or expectation (one line, no newline),
// e.g. `write thin 8s 16s seed:7 fua as w1 expect queued`. Sizes are printed in sectors
// (`16s`). Parsing the text again gives the same body and expectation body.
std::string to_text(const Command& command);
std::string to_text(const Expectation& expectation);
// Every command on its own line.
std::string to_text(const Scenario& scenario);

}  // namespace thinsim::harness
