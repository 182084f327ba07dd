// thinsim run --check-model: the pools' abstract state and block contents against the
// reference's.
#include "harness/model_state_comparison.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <utility>

namespace thinsim::harness::model_check {

// Virtual block -> data block, the first `limit` mappings.
std::map<uint64_t, uint64_t> StateComparison::pool_mappings(pool::Pool& p, pool::ThinTarget& t,
                                                            size_t limit) {
  std::map<uint64_t, uint64_t> out;
  for (uint64_t b = 0; out.size() < limit;) {
    auto r = p.pmd().find_mapped_range(t.device(), b, std::numeric_limits<uint64_t>::max());
    if (!r) break;
    for (uint64_t v = r->thin_begin; v < r->thin_end && out.size() < limit; ++v)
      out[v] = r->pool_begin + (v - r->thin_begin);
    b = r->thin_end;
  }
  return out;
}

Divergence StateComparison::compare_modes(const std::string& name, pool::Pool& p,
                                          ref::RefPool& r) {
  auto differ = [&](const std::string& what, const std::string& pv, const std::string& rv) {
    return "state: pool " + name + ": " + what + " is " + pv + " in the pool, " + rv +
           " in the reference";
  };
  auto set = [](bool b) { return b ? "set" : "clear"; };
  const int pm = static_cast<int>(p.mode()), rm = static_cast<int>(r.mode());
  if (pm != rm) return differ("the mode", mode_name(pm), mode_name(rm));
  if (p.mode() == pool::PoolMode::fail) return std::nullopt;
  if (p.pmd().needs_check() != r.needs_check())
    return differ("needs_check", set(p.pmd().needs_check()), set(r.needs_check()));
  if (p.pmd().transaction_id() != r.transaction_id())
    return differ("the transaction id", std::to_string(p.pmd().transaction_id()),
                  std::to_string(r.transaction_id()));
  return std::nullopt;
}

Divergence StateComparison::compare_space(const std::string& name, pool::Pool& p,
                                          ref::RefPool& r) {
  const uint64_t total = p.pmd().data_dev_size(), used = total - p.pmd().free_data_blocks();
  if (used == r.used_data_blocks() && total == r.data_blocks()) return std::nullopt;
  return "state: pool " + name + ": " + std::to_string(used) + "/" + std::to_string(total) +
         " data blocks used in the pool, " + std::to_string(r.used_data_blocks()) + "/" +
         std::to_string(r.data_blocks()) + " in the reference";
}

// The mapped virtual blocks of every active device, and the sharing partition: two
// mappings share a data block in the pool iff they share a token in the reference.
Divergence StateComparison::compare_mappings(pool::Pool& p, ref::RefPool& r,
                                             const std::vector<Active>& actives) {
  using Owner = std::pair<const Active*, uint64_t>;  // a device and its virtual block
  // data block -> (token, first owner) and token -> (data block, first owner)
  std::map<uint64_t, std::pair<uint64_t, Owner>> by_data, by_token;
  auto who = [](const Active& a) {
    return "device " + std::to_string(a.dev) + " (" + a.name + ")";
  };
  std::set<uint32_t> seen;
  for (const Active& a : actives) {
    if (!seen.insert(a.dev).second) continue;  // one device loaded twice
    auto pm = pool_mappings(p, *a.target);
    auto rm = r.mappings(a.dev);
    auto same_block = [](const auto& x, const auto& y) { return x.first == y.first; };
    auto [pi, ri] = std::mismatch(pm.begin(), pm.end(), rm.begin(), rm.end(), same_block);
    if (pi != pm.end() || ri != rm.end()) {
      const bool in_pool = ri == rm.end() || (pi != pm.end() && pi->first < ri->first);
      return "state: " + who(a) + " maps virtual block " +
             std::to_string(in_pool ? pi->first : ri->first) + " in the " +
             (in_pool ? "pool but not in the reference" : "reference but not in the pool");
    }
    for (const auto& [v, data] : pm) {
      const uint64_t token = rm.at(v);
      auto [d, d_new] = by_data.try_emplace(data, token, Owner{&a, v});
      auto [t, t_new] = by_token.try_emplace(token, data, Owner{&a, v});
      const bool pool_only = !d_new && d->second.first != token;
      if (!pool_only && (t_new || t->second.first == data)) continue;
      const Owner& o = pool_only ? d->second.second : t->second.second;
      return "state: " + who(a) + " maps virtual block " + std::to_string(v) +
             " to a block shared with " + who(*o.first) + " (virtual block " +
             std::to_string(o.second) + ") in the " +
             (pool_only ? "pool but not in the reference" : "reference but not in the pool");
    }
  }
  return std::nullopt;
}

std::vector<StateComparison::Active> StateComparison::actives_of(pool::Pool& p, DmCore& dm,
                                                                 Divergence& d) {
  std::vector<Active> out;
  for (const std::string& name : dm.mapped_devices()) {
    pool::ThinTarget* t = dm.thin_of(name);
    if (!t || &t->pool() != &p) continue;
    auto th = s_.thins.find(name);
    if (th == s_.thins.end() || !th->second.live || th->second.live->dev != t->dev_id())
      d = "check-model: lost track of the thin device " + name;
    else
      out.push_back({name, t, th->second.live->dev});
  }
  return out;
}

Divergence StateComparison::compare_state(DmCore& dm) {
  for (const auto& [device, md] : s_.pool_devices) {
    pool::Pool* p = dm.pool_of(device);
    if (!p) continue;
    ref::RefPool& r = *s_.pools.at(md).ref;
    Divergence d = compare_modes(device, *p, r);
    if (d || p->mode() == pool::PoolMode::fail) return d;
    auto actives = actives_of(*p, dm, d);
    if (!d) d = compare_mappings(*p, r, actives);
    if (!d) d = compare_space(device, *p, r);
    if (d) return d;
  }
  return std::nullopt;
}

// The contents of one virtual block where both sides map it (differences in the
// mappings themselves are compare_mappings' business).
Divergence StateComparison::compare_block(DmCore& dm, const std::string& name, uint64_t v) {
  pool::ThinTarget* t = dm.thin_of(name);
  auto th = s_.thins.find(name);
  if (!t || th == s_.thins.end() || !th->second.live || t->pool().mode() == pool::PoolMode::fail)
    return std::nullopt;
  const ThinTable& tt = *th->second.live;
  auto m = t->pool().pmd().find_block(t->device(), v);
  auto rr = s_.ref_of(tt).peek(tt.dev, v);
  if (!m || !rr) return std::nullopt;
  const uint64_t bs = t->pool().sectors_per_block();
  std::vector<std::byte> buf(bs * ref::kSectorBytes);
  t->pool().data_dev().read(m->block * bs, buf);
  auto off = first_difference(buf, *rr);
  if (!off) return std::nullopt;
  return "contents: device " + std::to_string(tt.dev) + " (" + name + ") virtual block " +
         std::to_string(v) + " (data block " + std::to_string(m->block) + "), byte " +
         std::to_string(*off) + " of the block: pool has " + hex(buf[*off]) +
         ", reference has " + hex(rr->data[*off]);
}

// Blocks written or discarded by IO that is in flight or finished in this step.
Divergence StateComparison::compare_touched(DmCore& dm) {
  std::set<std::pair<std::string, uint64_t>> touched;
  for (const IoPtr& io : s_.inflight) {
    if (io->state == Io::State::unmodelled || !s_.thins.count(io->device)) continue;
    const uint64_t bs = s_.block_sectors(io->target);
    for (uint64_t v = io->sector / bs; v <= (io->sector + io->nr - 1) / bs; ++v)
      touched.insert({io->device, v});
  }
  std::erase_if(s_.inflight, [this](const IoPtr& io) {
    s_.refresh(*io);
    return io->state == Io::State::done || io->state == Io::State::unmodelled;
  });
  for (const auto& [name, v] : touched)
    if (auto d = compare_block(dm, name, v)) return d;
  return std::nullopt;
}

// Every mapped block of every active thin device, at most 64 MiB of each device (more
// costs time for little: the per-step checks already compared every block IO touched).
Divergence StateComparison::compare_all_contents(DmCore& dm) {
  constexpr uint64_t kMaxBytesPerDevice = 64ull << 20;
  for (const std::string& name : dm.mapped_devices()) {
    pool::ThinTarget* t = dm.thin_of(name);
    if (!t || t->pool().mode() == pool::PoolMode::fail) continue;
    const size_t blocks =
        kMaxBytesPerDevice / (t->pool().sectors_per_block() * ref::kSectorBytes);
    for (const auto& [v, data] : pool_mappings(t->pool(), *t, blocks))
      if (auto d = compare_block(dm, name, v)) return d;
  }
  return std::nullopt;
}

}  // namespace thinsim::harness::model_check
