#include "harness/scenario_runner.h"

#include <cerrno>
#include <cstring>
#include <sstream>

#include "fault/crash_chooser.h"

namespace thinsim::harness {

namespace {

std::string errno_text(int err) {
  std::string_view n = errno_name(err);
  std::string s = n.empty() ? "errno " + std::to_string(err) : std::string(n);
  return s;
}

std::string describe(const StepOutcome& out) {
  if (out.queued) return "queued";
  if (out.result.err)
    return "error " + errno_text(out.result.err) +
           (out.result.text.empty() ? "" : " (" + out.result.text + ")");
  if (out.line) return "\"" + *out.line + "\"";
  return "ok";
}

std::string rtrim(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

}  // namespace

std::optional<std::string> status_field(const std::string& line, StatusField field) {
  auto w = words(line);
  auto split = [](const std::string& s, bool first) -> std::optional<std::string> {
    auto slash = s.find('/');
    if (slash == std::string::npos) return std::nullopt;
    return first ? s.substr(0, slash) : s.substr(slash + 1);
  };
  if (is_thin_status_field(field)) {
    if (w.size() != 2) return std::nullopt;
    return field == StatusField::mapped_sectors ? w[0] : w[1];
  }
  if (w.size() != 9) return std::nullopt;
  switch (field) {
    case StatusField::transaction_id: return w[0];
    case StatusField::used_metadata: return split(w[1], true);
    case StatusField::total_metadata: return split(w[1], false);
    case StatusField::used_data: return split(w[2], true);
    case StatusField::total_data: return split(w[2], false);
    case StatusField::held_root: return w[3];
    case StatusField::mode: return w[4];
    case StatusField::discard: return w[5];
    case StatusField::no_space: return w[6];
    case StatusField::needs_check: return w[7];
    case StatusField::metadata_low_water: return w[8];
    default: return std::nullopt;
  }
}

ScenarioRunner::ScenarioRunner() = default;

StepOutcome ScenarioRunner::submit_io(const std::string& name, pool::BioOp op, uint64_t sector,
                                      uint64_t nr, bool fua, std::vector<std::byte> data,
                                      const std::optional<std::string>& tag, CommandKind kind) {
  auto st = std::make_shared<TagState>();
  st->kind = kind;
  st->sector = sector;
  StepOutcome out;
  out.result = dm_.submit(name, op, sector, nr, fua, std::move(data),
                          [st](int err, std::vector<std::byte>& d) {
                            st->done = true;
                            st->err = err;
                            st->data = std::move(d);
                          });
  if (out.result.err) {
    st->done = true;
    st->err = out.result.err;
  } else if (!st->done) {
    out.queued = true;
  } else {
    out.result.err = st->err;
    out.data = st->data;
  }
  if (tag) tags_[*tag] = st;
  return out;
}

StepOutcome ScenarioRunner::execute(const Command& cmd) {
  StepOutcome out;
  switch (cmd.kind()) {
    case CommandKind::disk: {
      auto& c = cmd.as<DiskCmd>();
      out.result = dm_.add_disk(c.name, c.size_sectors, c.fill);
      break;
    }
    case CommandKind::resize: {
      auto& c = cmd.as<ResizeCmd>();
      out.result = dm_.resize_disk(c.name, c.size_sectors);
      break;
    }
    case CommandKind::fault:
      out.result = apply_fault(cmd.as<FaultCmd>());
      break;
    case CommandKind::crash:
      crash(cmd.as<CrashCmd>());
      break;
    case CommandKind::check: {
      auto& c = cmd.as<CheckCmd>();
      std::string report;
      out.result = dm_.check_disk(c.name, c.clear_needs_check, report);
      if (!out.result.err) out.line = report;
      break;
    }
    case CommandKind::create: {
      auto& c = cmd.as<CreateCmd>();
      out.result = dm_.create(c.name, c.table);
      break;
    }
    case CommandKind::reload: {
      auto& c = cmd.as<ReloadCmd>();
      out.result = dm_.reload(c.name, c.table);
      break;
    }
    case CommandKind::suspend: {
      auto& c = cmd.as<SuspendCmd>();
      out.result = dm_.suspend(c.name, c.noflush);
      break;
    }
    case CommandKind::resume:
      out.result = dm_.resume(cmd.as<ResumeCmd>().name);
      break;
    case CommandKind::remove:
      out.result = dm_.remove(cmd.as<RemoveCmd>().name);
      break;
    case CommandKind::message: {
      auto& c = cmd.as<MessageCmd>();
      out.result = dm_.message(c.name, c.sector, c.text);
      break;
    }
    case CommandKind::status: {
      auto& c = cmd.as<StatusCmd>();
      std::string line;
      out.result = dm_.status(c.name, c.noflush, line);
      out.line = line;
      break;
    }
    case CommandKind::table: {
      std::string line;
      out.result = dm_.table(cmd.as<TableCmd>().name, line);
      out.line = line;
      break;
    }
    case CommandKind::write: {
      auto& c = cmd.as<WriteCmd>();
      if (out.result = DmCore::check_io_length(pool::BioOp::write, c.nr_sectors); out.result.err)
        break;
      std::vector<std::byte> data(c.nr_sectors * 512);
      c.pattern.fill(c.sector * 512, data);
      out = submit_io(c.name, pool::BioOp::write, c.sector, c.nr_sectors, c.fua, std::move(data),
                      c.tag, cmd.kind());
      break;
    }
    case CommandKind::read: {
      auto& c = cmd.as<ReadCmd>();
      out = submit_io(c.name, pool::BioOp::read, c.sector, c.nr_sectors, false, {}, c.tag,
                      cmd.kind());
      break;
    }
    case CommandKind::discard: {
      auto& c = cmd.as<DiscardCmd>();
      out = submit_io(c.name, pool::BioOp::discard, c.sector, c.nr_sectors, false, {}, c.tag,
                      cmd.kind());
      break;
    }
    case CommandKind::flush: {
      auto& c = cmd.as<FlushCmd>();
      out = submit_io(c.name, pool::BioOp::flush, 0, 0, false, {}, c.tag, cmd.kind());
      break;
    }
    case CommandKind::sleep:
      dm_.advance_time(cmd.as<SleepCmd>().duration.count());
      break;
    case CommandKind::complete: {
      auto& c = cmd.as<CompleteCmd>();
      auto it = tags_.find(c.tag);
      if (it == tags_.end()) {
        out.result = DmResult::error(EINVAL, "no IO is tagged " + c.tag);
        break;
      }
      TagState& st = *it->second;
      out.queued = !st.done;
      out.result.err = st.done ? st.err : 0;
      out.data = st.data;
      break;
    }
    case CommandKind::event: {
      auto& c = cmd.as<EventCmd>();
      uint64_t now = dm_.event_count(c.name);
      uint64_t& seen = events_seen_[c.name];
      out.new_events = now - seen;
      seen = now;
      break;
    }
  }
  return out;
}

std::optional<std::string> ScenarioRunner::check_expectation(const Command& cmd,
                                                             const StepOutcome& out) {
  if (cmd.kind() == CommandKind::complete && !tags_.count(cmd.as<CompleteCmd>().tag))
    return out.result.text;
  if (!cmd.expect) {
    if (!require_success_) return std::nullopt;
    if (cmd.kind() == CommandKind::event)
      return out.new_events ? std::nullopt
                            : std::optional<std::string>("expected an event, none was raised");
    if (out.queued || out.result.err) return "expected success, got " + describe(out);
    return std::nullopt;
  }
  const ExpectationBody& e = cmd.expect->body;
  if (std::holds_alternative<ExpectOk>(e)) {
    if (out.queued || out.result.err) return "expected ok, got " + describe(out);
  } else if (auto* x = std::get_if<ExpectError>(&e)) {
    if (out.queued || out.result.err != x->errno_value)
      return "expected error " + errno_text(x->errno_value) + ", got " + describe(out);
    if (x->message_substring && out.result.text.find(*x->message_substring) == std::string::npos)
      return "expected the error text to contain \"" + *x->message_substring + "\", got \"" +
             out.result.text + "\"";
  } else if (std::holds_alternative<ExpectQueued>(e)) {
    if (!out.queued) return "expected the IO to be queued, got " + describe(out);
  } else if (std::holds_alternative<ExpectNone>(e)) {
    if (out.new_events)
      return "expected no event, " + std::to_string(out.new_events) + " were raised";
  } else if (auto* x = std::get_if<ExpectContent>(&e)) {
    if (out.queued || out.result.err) return "expected data, got " + describe(out);
    uint64_t sector = 0;
    if (cmd.kind() == CommandKind::read) sector = cmd.as<ReadCmd>().sector;
    if (cmd.kind() == CommandKind::complete) sector = tags_.at(cmd.as<CompleteCmd>().tag)->sector;
    ContentPattern::Mismatch m;
    if (!x->pattern.matches(sector * 512, out.data, &m)) return "data differs " + x->pattern.describe(m);
  } else if (auto* x = std::get_if<ExpectLine>(&e)) {
    if (out.result.err) return "expected a status line, got " + describe(out);
    if (rtrim(out.line.value_or("")) != rtrim(x->line))
      return "expected \"" + x->line + "\", got \"" + rtrim(out.line.value_or("")) + "\"";
  } else if (auto* x = std::get_if<ExpectFields>(&e)) {
    if (out.result.err) return "expected a status line, got " + describe(out);
    for (const FieldExpectation& f : x->fields) {
      auto v = status_field(out.line.value_or(""), f.field);
      if (!v)
        return "status line \"" + rtrim(out.line.value_or("")) + "\" has no field " +
               std::string(status_field_name(f.field));
      if (*v != f.value)
        return std::string(status_field_name(f.field)) + " is " + *v + ", expected " + f.value +
               " (status \"" + rtrim(*out.line) + "\")";
    }
  }
  return std::nullopt;
}

DmResult ScenarioRunner::apply_fault(const FaultCmd& c) {
  if (c.action == FaultAction::io_error) return dm_.set_disk_fault(c.name, c.rule);
  if (c.action == FaultAction::clear) {
    DmResult r = dm_.set_disk_fault(c.name, std::nullopt);
    DmResult ignored;
    if (!r.err)
      if (sim::SimDisk* d = dm_.sim_disk(c.name, ignored)) d->clear_faults();
    return r;
  }
  DmResult why;
  sim::SimDisk* d = dm_.sim_disk(c.name, why);
  if (!d) return why;
  const uint64_t size = d->nr_sectors();
  auto outside = [&](uint64_t end) {
    return DmResult::error(EINVAL, c.name + " has " + std::to_string(size) + " sectors; the fault ends at sector " +
                                       std::to_string(end));
  };
  switch (c.action) {
    case FaultAction::bit_flip:
      if (c.sector >= size) return outside(c.sector + 1);
      d->flip_bit(c.sector, uint32_t(c.count));
      break;
    case FaultAction::latent_error:
      if (c.sector >= size || c.count > size - c.sector) return outside(c.sector + c.count);
      for (uint64_t s = c.sector; s < c.sector + c.count; ++s) d->add_latent_error(s);
      break;
    case FaultAction::lost_writes: d->lose_next_writes(uint32_t(c.count)); break;
    case FaultAction::misdirected_writes: d->misdirect_next_writes(uint32_t(c.count), c.delta_sectors); break;
    case FaultAction::ignore_flush: d->ignore_flushes(); break;
    case FaultAction::io_error:
    case FaultAction::clear: break;
  }
  return DmResult::ok();
}

void ScenarioRunner::crash(const CrashCmd& c) {
  fault::SeededChooser chooser(c.seed);
  dm_.power_cut([&](const std::string&, size_t) {
    switch (c.keep) {
      case CrashKeep::none: return false;
      case CrashKeep::all: return true;
      case CrashKeep::seeded: return chooser.choose(2) == 1;
    }
    return false;
  });
  // IO in flight is gone with the host, and so are the devices' event counters.
  tags_.clear();
  events_seen_.clear();
}

// Media faults and power cuts need simulated disks: a run gives every disk one unless a
// disk model is already installed (the crash explorer's).
void ScenarioRunner::install_sim_disks(const Scenario& scenario) {
  if (dm_.has_disk_model()) return;
  bool needed = false;
  for (const Command& c : scenario.commands)
    if (c.kind() == CommandKind::crash ||
        (c.kind() == CommandKind::fault && needs_sim_disk(c.as<FaultCmd>().action)))
      needed = true;
  if (!needed) return;
  dm_.set_disk_model([this](const std::string& name, std::unique_ptr<pdata::BlockDevice> media) {
    return std::make_unique<sim::SimDisk>(name, ++sim_disks_, std::move(media), sim::DiskContract{}, clock_);
  });
}

RunResult ScenarioRunner::run(const Scenario& scenario) {
  RunResult result;
  install_sim_disks(scenario);
  for (const Command& cmd : scenario.commands) {
    for (StepObserver* o : observers_) o->before_step(cmd, dm_);
    StepOutcome out = execute(cmd);
    ++result.steps;
    std::string text = to_text(cmd);
    result.trace.push_back(to_string(cmd.location) + ": " + text + "  => " + describe(out));
    for (auto& line : dm_.take_log()) result.trace.push_back("    kernel: " + line);
    std::optional<std::string> problem = check_expectation(cmd, out);
    for (StepObserver* o : observers_) {
      if (problem) break;
      problem = o->after_step(cmd, out, dm_);
      for (auto& note : o->take_notes()) result.trace.push_back("    note: " + note);
    }
    if (problem) {
      result.failure = StepFailure{cmd.location, text, *problem};
      return result;
    }
  }
  for (StepObserver* o : observers_) {
    if (auto problem = o->at_end(dm_)) {
      result.failure = StepFailure{SourceLocation{scenario.file, 0, 0}, "(end of scenario)", *problem};
      return result;
    }
  }
  return result;
}

}  // namespace thinsim::harness
