// thinsim run --check-model, what the reference side keeps track of: one RefPool per
// metadata disk (the metadata outlives the pool object), the tables of the mapped devices
// as the reference sees them, and the IO it was given. ModelMirror keeps it up to date
// with the commands; StateComparison reads it. Internal to the model check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/content_pattern.h"
#include "harness/scenario_ast.h"
#include "model/ref/ref_pool.h"

namespace thinsim::harness::model_check {

struct Disk {
  uint64_t sectors;
  ContentPattern fill;
};

struct PoolRef {  // one per metadata disk
  std::unique_ptr<ref::RefPool> ref;
  ref::PoolParams table;                   // the live table
  std::optional<ref::PoolParams> inactive;  // loaded, waiting for a resume
  bool bind_table = false;                 // the live table has not been resumed yet
  bool suspended = false;
};

struct ThinTable {
  std::string md;  // the pool's metadata disk
  uint32_t dev = 0;
};

struct Thin {
  std::optional<ThinTable> live, inactive;
  bool suspended = false;
};

// One IO command as the reference sees it.
struct Io {
  enum class State { unmodelled, held, pending, done };
  CommandKind kind = CommandKind::write;
  std::string device;
  uint64_t sector = 0, nr = 0;
  bool fua = false;
  std::vector<std::byte> data;  // a write's payload
  ThinTable target;
  State state = State::unmodelled;
  ref::IoHandle handle = 0;
  int err = 0;
  ref::ReadResult read;
};
using IoPtr = std::shared_ptr<Io>;

struct MirrorState {
  std::map<std::string, Disk> disks;
  std::map<std::string, PoolRef> pools;             // by metadata disk
  std::map<std::string, std::string> pool_devices;  // pool mapped device -> metadata disk
  std::map<std::string, Thin> thins;                // thin mapped devices
  std::map<std::string, std::deque<IoPtr>> held;    // IO dm core holds, by device
  std::map<std::string, IoPtr> tags;
  std::vector<IoPtr> inflight;  // writes and discards whose blocks are compared each step

  ref::RefPool& ref_of(const ThinTable& t) { return *pools.at(t.md).ref; }
  uint32_t block_sectors(const ThinTable& t) { return pools.at(t.md).table.block_sectors; }

  void refresh(Io& io) {
    if (io.state != Io::State::pending) return;
    if (auto c = ref_of(io.target).completion(io.handle)) io.state = Io::State::done, io.err = *c;
  }
};

}  // namespace thinsim::harness::model_check
