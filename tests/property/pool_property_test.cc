// End-to-end property test of the pool metadata: random sequences of the operations the
// thin target and pool messages perform (create thin, snapshot of anything, delete,
// provisioning writes, breaking sharing, range discards, metadata snapshots, commits and
// aborts) are compared with a reference model of every device's mappings, and after every
// commit the independent checker must find the metadata clean.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <map>
#include <memory>

#include "model/check/metadata_checker.h"
#include "model/pdata/error.h"
#include "model/pdata/memory_block_device.h"
#include "model/thin/pool_metadata.h"

using namespace thinsim;
using thin::PoolMetadata;
using thin::ThinId;

namespace {

constexpr uint64_t kVirtualBlocks = 2000;
constexpr uint64_t kDataBlocks = 20000;

struct Device {
  std::map<uint64_t, uint64_t> mappings;  // virtual block -> data block
  uint32_t creation_time = 0, snapshotted_time = 0;
};

struct Model {
  std::map<ThinId, Device> devices;
  uint32_t time = 0;
  uint64_t trans_id = 0;
  bool held = false;
  // The last committed state, for abort.
  std::map<ThinId, Device> committed_devices;
  bool committed_held = false;
};

struct Sut {
  pdata::MemoryBlockDevice dev{16384 * 8};  // 64 MiB of metadata
  std::unique_ptr<PoolMetadata> pmd;
  Sut() {
    PoolMetadata::Options o;
    o.data_block_size = 128;
    o.cache_blocks = 128;
    pmd = std::make_unique<PoolMetadata>(dev, o);
    pmd->resize_data_dev(kDataBlocks);
    pmd->commit();
  }
};

using Cmd = rc::state::Command<Model, Sut>;

// dm-thin commits after every successful pool message; the metadata layer relies on it
// (e.g. deleting a device whose details were never committed fails with ENODATA).
void commit_message(const Model& m, Model& mm) {
  (void)m;
  mm.committed_devices = mm.devices;
  mm.committed_held = mm.held;
}

ThinId pick_device(const Model& m) {
  std::vector<ThinId> ids;
  for (auto& [id, d] : m.devices) ids.push_back(id);
  return ids.empty() ? 0 : *rc::gen::elementOf(ids);
}

void check_device(const Model& m, Sut& s, ThinId id) {
  const Device& d = m.devices.at(id);
  thin::ThinDevice& td = s.pmd->open_thin(id);
  RC_ASSERT(s.pmd->mapped_count(td) == d.mappings.size());
  for (uint64_t v = 0; v < kVirtualBlocks; v += 7) {
    auto r = s.pmd->find_block(td, v);
    auto it = d.mappings.find(v);
    RC_ASSERT(r.has_value() == (it != d.mappings.end()));
    if (r) RC_ASSERT(r->block == it->second);
  }
  auto hi = s.pmd->highest_mapped_block(td);
  RC_ASSERT(hi.has_value() == !d.mappings.empty());
  if (hi) RC_ASSERT(*hi == d.mappings.rbegin()->first);
  s.pmd->close_thin(td);
}

struct CreateThin : Cmd {
  ThinId id = *rc::gen::inRange<ThinId>(0, 40);
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.devices.count(id)); }
  void apply(Model& m) const override { m.devices[id] = Device{{}, m.time, m.time};  commit_message(m, m); }
  void run(const Model&, Sut& s) const override { s.pmd->create_thin(id); s.pmd->commit(); }
  void show(std::ostream& os) const override { os << "CreateThin(" << id << ")"; }
};

struct CreateSnap : Cmd {
  ThinId id = *rc::gen::inRange<ThinId>(0, 40);
  ThinId origin;
  explicit CreateSnap(const Model& m) : origin(pick_device(m)) {}
  void checkPreconditions(const Model& m) const override {
    RC_PRE(!m.devices.count(id));
    RC_PRE(m.devices.count(origin) != 0u);
  }
  void apply(Model& m) const override {
    m.time++;
    Device snap = m.devices.at(origin);
    snap.creation_time = snap.snapshotted_time = m.time;
    m.devices.at(origin).snapshotted_time = m.time;
    m.devices[id] = snap;
   commit_message(m, m); }
  void run(const Model&, Sut& s) const override { s.pmd->create_snap(id, origin); s.pmd->commit(); }
  void show(std::ostream& os) const override { os << "CreateSnap(" << id << " of " << origin << ")"; }
};

struct Delete : Cmd {
  ThinId id;
  explicit Delete(const Model& m) : id(pick_device(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.devices.count(id) != 0u); }
  void apply(Model& m) const override { m.devices.erase(id);  commit_message(m, m); }
  void run(const Model&, Sut& s) const override { s.pmd->delete_thin(id); s.pmd->commit(); }
  void show(std::ostream& os) const override { os << "Delete(" << id << ")"; }
};

// What the thin target does for a write: a new data block for an unmapped or shared
// block (breaking sharing), nothing for a mapped, unshared one.
struct Write : Cmd {
  ThinId id;
  uint64_t begin = *rc::gen::inRange<uint64_t>(0, kVirtualBlocks);
  uint64_t length = *rc::gen::inRange<uint64_t>(1, 300);
  explicit Write(const Model& m) : id(pick_device(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.devices.count(id) != 0u); }
  void apply(Model&) const override {}  // data blocks are chosen by the pool: recorded in run
  void run(const Model& m, Sut& s) const override {
    auto& mm = const_cast<Model&>(m);
    Device& d = mm.devices.at(id);
    thin::ThinDevice& td = s.pmd->open_thin(id);
    for (uint64_t v = begin; v < std::min(begin + length, kVirtualBlocks); ++v) {
      auto r = s.pmd->find_block(td, v);
      if (r && !r->shared) continue;
      // A shared lookup result may be a false positive; the kernel breaks sharing anyway.
      pdata::block_t b;
      try {
        b = s.pmd->alloc_data_block();
      } catch (const pdata::NoSpaceError&) {
        break;
      }
      s.pmd->insert_block(td, v, b);
      d.mappings[v] = b;
    }
    s.pmd->close_thin(td);
    check_device(mm, s, id);
  }
  void show(std::ostream& os) const override {
    os << "Write(" << id << ", " << begin << "+" << length << ")";
  }
};

struct Discard : Cmd {
  ThinId id;
  uint64_t begin = *rc::gen::inRange<uint64_t>(0, kVirtualBlocks);
  uint64_t length = *rc::gen::inRange<uint64_t>(1, 500);
  explicit Discard(const Model& m) : id(pick_device(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.devices.count(id) != 0u); }
  void apply(Model& m) const override {
    auto& mp = m.devices.at(id).mappings;
    mp.erase(mp.lower_bound(begin), mp.lower_bound(begin + length));
  }
  void run(const Model& m, Sut& s) const override {
    thin::ThinDevice& td = s.pmd->open_thin(id);
    s.pmd->remove_range(td, begin, begin + length);
    s.pmd->close_thin(td);
    Model after = m;
    apply(after);
    check_device(after, s, id);
  }
  void show(std::ostream& os) const override {
    os << "Discard(" << id << ", " << begin << "+" << length << ")";
  }
};

struct SetTransactionId : Cmd {
  void apply(Model& m) const override { m.trans_id++;  commit_message(m, m); }
  void run(const Model& m, Sut& s) const override { s.pmd->set_transaction_id(m.trans_id, m.trans_id + 1); s.pmd->commit(); }
  void show(std::ostream& os) const override { os << "SetTransactionId"; }
};

struct ReserveSnap : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.held); }
  // Reserving commits first.
  void apply(Model& m) const override {
    m.held = true;
    m.committed_devices = m.devices;
   commit_message(m, m); }
  void run(const Model&, Sut& s) const override { s.pmd->reserve_metadata_snap(); s.pmd->commit(); }
  void show(std::ostream& os) const override { os << "ReserveMetadataSnap"; }
};

struct ReleaseSnap : Cmd {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.held); }
  void apply(Model& m) const override { m.held = false;  commit_message(m, m); }
  void run(const Model&, Sut& s) const override { s.pmd->release_metadata_snap(); s.pmd->commit(); }
  void show(std::ostream& os) const override { os << "ReleaseMetadataSnap"; }
};

struct Commit : Cmd {
  void apply(Model& m) const override {
    m.committed_devices = m.devices;
    m.committed_held = m.held;
  }
  void run(const Model& m, Sut& s) const override {
    s.pmd->commit();
    check::CheckResult r = check::check_metadata(s.dev, check::CheckOptions{});
    std::string all;
    for (auto& f : r.findings.list())
      if (f.severity != check::Severity::note) all += f.to_string() + "\n";
    RC_ASSERT(all == std::string());
    RC_ASSERT(r.nr_devices == m.devices.size());
    uint64_t mappings = 0;
    for (auto& [id, d] : m.devices) mappings += d.mappings.size();
    RC_ASSERT(r.nr_mappings == mappings);
    if (m.held) {
      check::CheckOptions so;
      so.metadata_snap = true;
      RC_ASSERT(check::check_metadata(s.dev, so).findings.nr_fatal() == 0u);
    }
  }
  void show(std::ostream& os) const override { os << "Commit"; }
};

// Abandons the transaction. Like the kernel, only the roots are reloaded: devices changed
// in the aborted transaction keep stale in-core details, so the model only checks the
// mappings.
struct Abort : Cmd {
  void apply(Model& m) const override {
    m.devices = m.committed_devices;
    m.held = m.committed_held;
  }
  void run(const Model&, Sut& s) const override {
    s.pmd->abort();
    // Reopen so in-core device state and time come from disk again.
    s.pmd->close();
    PoolMetadata::Options o;
    o.data_block_size = 128;
    o.cache_blocks = 128;
    o.format_device = false;
    s.pmd = std::make_unique<PoolMetadata>(s.dev, o);
  }
  void show(std::ostream& os) const override { os << "Abort"; }
};

}  // namespace

RC_GTEST_PROP(PoolMetadataProperty, MatchesModelAndChecksClean, ()) {
  Model model;
  Sut sut;
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<CreateThin, CreateThin, CreateSnap,
                                                     CreateSnap, Delete, Write, Write, Write,
                                                     Discard, SetTransactionId, ReserveSnap,
                                                     ReleaseSnap, Commit, Commit, Abort>());
}
