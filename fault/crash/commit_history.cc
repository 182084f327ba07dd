#include "fault/crash/commit_history.h"

namespace thinsim::fault {

CommitRecord CommitHistory::record(sim::SimDisk& meta, uint64_t seq) {
  CommitRecord r;
  r.seq = seq;
  MetadataViewOptions o;
  o.reachable = true;
  r.view = read_metadata_view(meta, o, &r.xml);
  r.superblock.resize(4096);
  try {
    meta.read(0, r.superblock);
  } catch (const std::exception&) {
    r.superblock.clear();
  }
  return r;
}

void CommitHistory::start(sim::SimDisk& meta) {
  durable_ = record(meta, 0);
  in_flight_.clear();
}

std::optional<std::string> CommitHistory::in_flight(sim::SimDisk& meta, const sim::IoEvent& io) {
  if (io.kind == sim::IoKind::flush) return std::nullopt;
  const uint64_t first = io.sector / 8, last = (io.sector + io.nr_sectors - 1) / 8;
  std::optional<std::string> violation;
  for (uint64_t b = std::max<uint64_t>(first, 1); b <= last && !violation; ++b) {
    auto reached_by = [&](const CommitRecord& c) { return c.view.reachable.count(b) != 0; };
    const CommitRecord* owner = reached_by(durable_) ? &durable_ : nullptr;
    for (const CommitRecord& c : in_flight_)
      if (!owner && reached_by(c)) owner = &c;
    if (owner)
      violation = "metadata block " + std::to_string(b) +
                  (io.kind == sim::IoKind::discard ? " discarded" : " overwritten") +
                  " while the superblock written at IO " + std::to_string(owner->seq) +
                  (owner == &durable_ ? " (durable)" : " (in flight)") + " still reaches it";
  }
  idle_commit_.reset();
  if (first == 0 && io.kind == sim::IoKind::write) {
    const uint64_t previous = in_flight_.empty() ? durable_.seq : in_flight_.back().seq;
    in_flight_.push_back(record(meta, io.seq));
    in_flight_.back().previous_seq = previous;
    if (writes_since_open_ == 0 && in_flight_.back().superblock == durable_.superblock &&
        !durable_.view.unformatted)
      idle_commit_ = "a pool that changed nothing since it opened the metadata wrote the superblock "
                     "again (as the durable commit of IO " + std::to_string(durable_.seq) + ")";
  }
  if (io.kind != sim::IoKind::flush) ++writes_since_open_;
  return violation;
}

void CommitHistory::completed(sim::SimDisk& meta, const sim::IoEvent& io) {
  if (in_flight_.empty()) return;
  bool durable_now = false;
  if (io.kind == sim::IoKind::flush)
    durable_now = meta.contract().honours_flush;
  else if (io.kind == sim::IoKind::write && io.sector == 0)
    durable_now = !meta.contract().volatile_cache || (io.fua && meta.contract().honours_flush);
  if (!durable_now) return;
  durable_ = std::move(in_flight_.back());
  in_flight_.clear();
  ++durable_commits_;
}

const CommitRecord* CommitHistory::match(const std::string& fingerprint) const {
  if (durable_.view.fingerprint == fingerprint) return &durable_;
  for (auto it = in_flight_.rbegin(); it != in_flight_.rend(); ++it)
    if (it->view.fingerprint == fingerprint) return &*it;
  return nullptr;
}

}  // namespace thinsim::fault
