#include "fault/crash/data_history.h"

#include <algorithm>

namespace thinsim::fault {

void DataHistory::in_flight(sim::SimDisk& data, const sim::IoEvent& io) {
  if (!io.write) return;
  const sim::PendingWrite& w = *io.write;
  const bool wild = w.discard && data.contract().discard == sim::DiscardSemantics::undefined;
  if (w.discard) discards_.push_back(w.seq);
  for (uint32_t i = 0; i < w.nr_sectors; ++i) {
    auto& v = versions_[w.sector + i];
    if (v.empty()) v.push_back({0, data.durable_sector_hash(w.sector + i), false});
    v.push_back({w.seq, w.hashes[i], wild});
  }
}

bool DataHistory::allowed(uint64_t s, uint64_t commit_seq, uint64_t hash,
                          const SurvivingSector* survivor) const {
  auto it = versions_.find(s);
  if (it == versions_.end()) return true;  // never written: nothing to lose
  const auto& v = it->second;
  // The version the commit relied on: the newest written before its superblock.
  size_t required = 0;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i].seq < commit_seq) required = i;
  if (survivor && survivor->wild && survivor->seq > commit_seq) return true;  // torn after the commit
  for (size_t i = required; i < v.size(); ++i)
    if (v[i].wild || v[i].hash == hash) return true;
  return false;
}

bool DataHistory::discarded_between(uint64_t after, uint64_t before) const {
  auto it = std::upper_bound(discards_.begin(), discards_.end(), after);
  return it != discards_.end() && *it < before;
}

std::string DataHistory::describe(uint64_t s) const {
  auto it = versions_.find(s);
  if (it == versions_.end()) return "never written";
  std::string out = "versions written at IO";
  for (const Version& v : it->second) {
    out.append(" ");
    if (v.seq == 0)
      out.append("0 (initial)");
    else
      out.append(std::to_string(v.seq));
    if (v.wild) out.append(" (wild)");
  }
  return out;
}

}  // namespace thinsim::fault
