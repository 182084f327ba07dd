#include "harness/scenario_ast.h"

#include <array>
#include <cerrno>
#include <utility>

namespace thinsim::harness {

namespace {

constexpr std::array<std::string_view, 20> kCommandNames = {
    "disk",  "resize", "create", "reload",  "suspend", "resume", "remove",   "message", "status",
    "table", "write",  "read",   "discard", "flush",   "sleep",  "complete", "event",   "fault",
    "check", "crash",
};
static_assert(kCommandNames.size() == std::variant_size_v<CommandBody>);

constexpr std::array<std::string_view, 13> kStatusFieldNames = {
    "transaction_id",     "used_metadata",  "total_metadata", "used_data", "total_data",
    "held_root",          "mode",           "discard",        "no_space",  "needs_check",
    "metadata_low_water", "mapped_sectors", "highest_sector",
};
static_assert(kStatusFieldNames.size() == static_cast<size_t>(StatusField::highest_sector) + 1);

constexpr std::array<std::pair<std::string_view, int>, 14> kErrnos = {{
    {"EEXIST", EEXIST},
    {"ENODATA", ENODATA},
    {"EINVAL", EINVAL},
    {"EBUSY", EBUSY},
    {"ENOSPC", ENOSPC},
    {"EIO", EIO},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"EPERM", EPERM},
    {"ENXIO", ENXIO},
    {"ENOMEM", ENOMEM},
    {"ENODEV", ENODEV},
    {"EUCLEAN", EUCLEAN},
    {"EILSEQ", EILSEQ},    // a metadata block's checksum or magic is wrong
    {"ENOTBLK", ENOTBLK},  // a metadata block says it lives elsewhere
}};

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string sectors(uint64_t n) { return std::to_string(n) + "s"; }

std::string tag_suffix(const std::optional<std::string>& tag) {
  return tag ? " as " + *tag : std::string();
}

struct BodyText {
  std::string operator()(const DiskCmd& c) const {
    std::string s = "disk " + c.name + " " + sectors(c.size_sectors);
    if (c.fill != ContentPattern::zero()) s += " fill=" + c.fill.to_string();
    return s;
  }
  std::string operator()(const ResizeCmd& c) const {
    return "resize " + c.name + " " + sectors(c.size_sectors);
  }
  std::string operator()(const FaultCmd& c) const {
    std::string s = "fault " + c.name + " " + std::string(fault_action_name(c.action));
    switch (c.action) {
      case FaultAction::io_error:
        s += " " + fault::ops_to_string(c.rule->ops);
        if (c.rule->after) s += " after=" + std::to_string(c.rule->after);
        if (c.rule->count) s += " count=" + std::to_string(*c.rule->count);
        break;
      case FaultAction::bit_flip: s += " " + sectors(c.sector) + " " + std::to_string(c.count); break;
      case FaultAction::latent_error: s += " " + sectors(c.sector) + " " + sectors(c.count); break;
      case FaultAction::lost_writes: s += " " + std::to_string(c.count); break;
      case FaultAction::misdirected_writes:
        s += " " + std::to_string(c.count) + " " + (c.delta_sectors < 0 ? "-" : "") +
             sectors(c.delta_sectors < 0 ? uint64_t(0) - uint64_t(c.delta_sectors) : uint64_t(c.delta_sectors));
        break;
      case FaultAction::clear:
      case FaultAction::ignore_flush: break;
    }
    return s;
  }
  std::string operator()(const CrashCmd& c) const {
    switch (c.keep) {
      case CrashKeep::none: return "crash";
      case CrashKeep::all: return "crash keep=all";
      case CrashKeep::seeded: return "crash keep=seed:" + std::to_string(c.seed);
    }
    return "crash";
  }
  std::string operator()(const CheckCmd& c) const {
    return "check " + c.name + (c.clear_needs_check ? " --clear-needs-check-flag" : "");
  }
  std::string operator()(const CreateCmd& c) const {
    return "create " + c.name + " " + quoted(c.table.to_string());
  }
  std::string operator()(const ReloadCmd& c) const {
    return "reload " + c.name + " " + quoted(c.table.to_string());
  }
  std::string operator()(const SuspendCmd& c) const {
    return "suspend " + c.name + (c.noflush ? " --noflush" : "");
  }
  std::string operator()(const ResumeCmd& c) const { return "resume " + c.name; }
  std::string operator()(const RemoveCmd& c) const { return "remove " + c.name; }
  std::string operator()(const MessageCmd& c) const {
    return "message " + c.name + " " + std::to_string(c.sector) + " " + quoted(c.text);
  }
  std::string operator()(const StatusCmd& c) const {
    return "status " + c.name + (c.noflush ? " --noflush" : "");
  }
  std::string operator()(const TableCmd& c) const { return "table " + c.name; }
  std::string operator()(const WriteCmd& c) const {
    return "write " + c.name + " " + sectors(c.sector) + " " + sectors(c.nr_sectors) + " " +
           c.pattern.to_string() + (c.fua ? " fua" : "") + tag_suffix(c.tag);
  }
  std::string operator()(const ReadCmd& c) const {
    return "read " + c.name + " " + sectors(c.sector) + " " + sectors(c.nr_sectors) +
           tag_suffix(c.tag);
  }
  std::string operator()(const DiscardCmd& c) const {
    return "discard " + c.name + " " + sectors(c.sector) + " " + sectors(c.nr_sectors) +
           tag_suffix(c.tag);
  }
  std::string operator()(const FlushCmd& c) const { return "flush " + c.name + tag_suffix(c.tag); }
  std::string operator()(const SleepCmd& c) const {
    return "sleep " + std::to_string(c.duration.count()) + "ms";
  }
  std::string operator()(const CompleteCmd& c) const { return "complete " + c.tag; }
  std::string operator()(const EventCmd& c) const { return "event " + c.name; }
};

struct ExpectText {
  std::string operator()(const ExpectOk&) const { return "ok"; }
  std::string operator()(const ExpectError& e) const {
    std::string s = "error ";
    std::string_view name = errno_name(e.errno_value);
    if (name.empty()) {
      s += "E?";
      s += std::to_string(e.errno_value);
    } else {
      s += name;
    }
    if (e.message_substring) {
      s += ' ';
      s += quoted(*e.message_substring);
    }
    return s;
  }
  std::string operator()(const ExpectQueued&) const { return "queued"; }
  std::string operator()(const ExpectNone&) const { return "none"; }
  std::string operator()(const ExpectContent& e) const { return e.pattern.to_string(); }
  std::string operator()(const ExpectLine& e) const { return quoted(e.line); }
  std::string operator()(const ExpectFields& e) const {
    std::string s;
    for (const auto& f : e.fields) {
      if (!s.empty()) s += ' ';
      s += std::string(status_field_name(f.field)) + "=" + f.value;
    }
    return s;
  }
};

}  // namespace

std::string to_string(const SourceLocation& loc) {
  if (loc.line == 0) return loc.file;
  return loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

std::string TableLine::to_string() const {
  std::string s = std::to_string(start) + " " + std::to_string(length) + " " + target;
  for (const auto& a : args) s += " " + a;
  return s;
}

bool needs_sim_disk(FaultAction a) { return a != FaultAction::io_error && a != FaultAction::clear; }

std::string_view fault_action_name(FaultAction a) {
  switch (a) {
    case FaultAction::io_error: return "error";
    case FaultAction::clear: return "clear";
    case FaultAction::bit_flip: return "bit-flip";
    case FaultAction::latent_error: return "latent-error";
    case FaultAction::lost_writes: return "lost-writes";
    case FaultAction::misdirected_writes: return "misdirected-writes";
    case FaultAction::ignore_flush: return "ignore-flush";
  }
  return "?";
}

std::string_view command_name(CommandKind kind) {
  auto i = static_cast<size_t>(kind);
  return i < kCommandNames.size() ? kCommandNames[i] : std::string_view("?");
}

std::string_view status_field_name(StatusField field) {
  auto i = static_cast<size_t>(field);
  return i < kStatusFieldNames.size() ? kStatusFieldNames[i] : std::string_view("?");
}

std::optional<StatusField> status_field_from_name(std::string_view name) {
  for (size_t i = 0; i < kStatusFieldNames.size(); ++i)
    if (kStatusFieldNames[i] == name) return static_cast<StatusField>(i);
  return std::nullopt;
}

bool is_thin_status_field(StatusField field) {
  return field == StatusField::mapped_sectors || field == StatusField::highest_sector;
}

std::optional<int> errno_from_name(std::string_view name) {
  for (const auto& [n, v] : kErrnos)
    if (n == name) return v;
  return std::nullopt;
}

std::string known_errno_names() {
  std::string s;
  for (const auto& [n, v] : kErrnos) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

std::string_view errno_name(int errno_value) {
  for (const auto& [n, v] : kErrnos)
    if (v == errno_value) return n;
  return {};
}

std::string to_text(const Expectation& expectation) {
  std::string s = "expect ";
  s += std::visit(ExpectText{}, expectation.body);
  return s;
}

std::string to_text(const Command& command) {
  std::string s = std::visit(BodyText{}, command.body);
  if (command.expect) {
    s += ' ';
    s += to_text(*command.expect);
  }
  return s;
}

std::string to_text(const Scenario& scenario) {
  std::string s;
  for (const auto& c : scenario.commands) {
    s += to_text(c);
    s += '\n';
  }
  return s;
}

}  // namespace thinsim::harness
