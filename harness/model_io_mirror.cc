// thinsim run --check-model: IO on the reference, held, released and compared as dm core
// and the pool would.
#include "harness/model_io_mirror.h"

#include <cerrno>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

namespace thinsim::harness::model_check {

bool IoMirror::io_held(const std::string& device) {  // DmCore::io_held
  const Thin& t = s_.thins.at(device);
  return t.suspended || s_.pools.at(t.live->md).suspended;
}

Divergence IoMirror::on_io(const Command& cmd, const StepOutcome& out, DmCore& dm) {
  auto io = std::make_shared<Io>();
  io->kind = cmd.kind();
  std::optional<std::string> tag;
  if (auto* w = std::get_if<WriteCmd>(&cmd.body)) {
    io->device = w->name, io->sector = w->sector, io->nr = w->nr_sectors, tag = w->tag;
    io->fua = w->fua;
    io->data.resize(w->nr_sectors * ref::kSectorBytes);
    w->pattern.fill(w->sector * ref::kSectorBytes, io->data);
  } else if (auto* r = std::get_if<ReadCmd>(&cmd.body)) {
    io->device = r->name, io->sector = r->sector, io->nr = r->nr_sectors, tag = r->tag;
  } else if (auto* d = std::get_if<DiscardCmd>(&cmd.body)) {
    io->device = d->name, io->sector = d->sector, io->nr = d->nr_sectors, tag = d->tag;
  } else {
    io->device = cmd.as<FlushCmd>().name, tag = cmd.as<FlushCmd>().tag;
  }
  if (tag) s_.tags[*tag] = io;
  auto t = s_.thins.find(io->device);
  auto table = dm.live_table(io->device);
  // Only IO that reaches a thin target is modelled: not IO to a pool device (it goes
  // straight to the data device) nor what dm core refuses beyond the device's end.
  if (t == s_.thins.end() || !t->second.live || !table) return std::nullopt;
  const uint64_t len = table->length;
  if (io->kind != CommandKind::flush && (io->sector > len || io->nr > len - io->sector))
    return std::nullopt;
  io->target = *t->second.live;
  if (io->kind == CommandKind::discard && s_.pools.at(io->target.md).table.ignore_discard) {
    io->state = Io::State::done, io->err = EOPNOTSUPP;  // dm core refuses at once
  } else if (io_held(io->device)) {
    io->state = Io::State::held;
    s_.held[io->device].push_back(io);
  } else {
    submit(*io);
  }
  if (io->kind == CommandKind::write || io->kind == CommandKind::discard)
    s_.inflight.push_back(io);
  return compare_io(*io, out);
}

void IoMirror::submit(Io& io) {
  ref::RefPool& r = s_.ref_of(io.target);
  const uint32_t dev = io.target.dev;
  ref::IoResult res;
  switch (io.kind) {
    case CommandKind::write: res = r.write(dev, io.sector, io.data, io.fua); break;
    case CommandKind::flush: res = r.flush(dev); break;
    case CommandKind::read:
      io.read = r.read(dev, io.sector, io.nr);
      res.error = io.read.error;
      break;
    default: res.error = r.discard(dev, io.sector, io.nr); break;
  }
  io.handle = res.handle;
  io.err = res.error;
  io.state = res.status == ref::IoStatus::queued ? Io::State::pending : Io::State::done;
}

// What dm core does on resume: held IO is mapped again, in order (DmCore::release_held):
// first what the pool handed back, then what was submitted while the device was held.
void IoMirror::release_held() {
  for (auto& [device, t] : s_.thins) {
    if (io_held(device)) continue;
    s_.ref_of(*t.live).resubmit_device_io(t.live->dev);
    for (IoPtr& io : std::exchange(s_.held[device], {})) submit(*io);
  }
}

void IoMirror::fail_outstanding(const std::string& device) {
  auto fail = [&](const IoPtr& io) {
    if (io->device != device) return;
    s_.refresh(*io);
    if (io->state == Io::State::held || io->state == Io::State::pending)
      io->state = Io::State::done, io->err = EIO;
  };
  for (auto& [tag, io] : s_.tags) fail(io);
  for (IoPtr& io : s_.inflight) fail(io);
  s_.held.erase(device);
}

// The model's outcome against the reference's; a read's data on the defined sectors.
Divergence IoMirror::compare_io(Io& io, const StepOutcome& out) {
  s_.refresh(io);
  const bool queued = io.state != Io::State::done;
  const std::string what = std::string(command_name(io.kind)) + " to " + io.device +
                           " (device " + std::to_string(io.target.dev) + ") [" +
                           std::to_string(io.sector) + "+" + std::to_string(io.nr) + ")";
  if (auto d = disagree(what, out.queued, out.result.err, queued, io.err)) return d;
  if (io.kind != CommandKind::read || queued || io.err) return std::nullopt;
  if (out.data.size() != io.read.data.size())
    return "reference model: " + what + ": read lengths differ";
  if (auto off = first_difference(out.data, io.read))
    return "reference model: " + what + ": data differs at byte " +
           std::to_string(io.sector * ref::kSectorBytes + *off) + " of the device: model " +
           hex(out.data[*off]) + ", reference " + hex(io.read.data[*off]);
  return std::nullopt;
}

Divergence IoMirror::on_complete(const CompleteCmd& c, const StepOutcome& out) {
  auto it = s_.tags.find(c.tag);
  if (it == s_.tags.end() || it->second->state == Io::State::unmodelled) return std::nullopt;
  return compare_io(*it->second, out);
}

}  // namespace thinsim::harness::model_check
