#include "model/thin/metadata_dumper.h"

#include <map>
#include <unordered_set>
#include <vector>

#include "model/pdata/block_manager.h"
#include "model/pdata/btree.h"
#include "model/pdata/error.h"
#include "model/thin/block_time.h"
#include "model/thin/device_details.h"
#include "model/thin/run_coalescer.h"
#include "model/thin/superblock.h"

namespace thinsim::thin {

using namespace pdata;

namespace {

[[noreturn]] void damaged(const std::string& detail) {
  throw DumpError("metadata contains errors (run thin_check for details): " + detail);
}

// Walks one btree in key order, calling fn(key, value) for each leaf entry. It checks
// what an ordered walk needs: each node valid, of the expected value size, keys rising
// across the whole walk, and no node visited twice (a cycle or a node shared within
// one tree).
class OrderedWalk {
 public:
  OrderedWalk(BlockManager& bm, uint32_t value_size) : bm_(bm), value_size_(value_size) {}

  template <typename Fn>
  void run(uint64_t root, Fn&& fn) {
    visit(root, 0, fn);
  }

 private:
  template <typename Fn>
  void visit(uint64_t b, unsigned depth, Fn& fn) {
    if (depth > kMaxBtreeDepth) damaged("btree deeper than 64 levels at block " + std::to_string(b));
    if (!visited_.insert(b).second) damaged("btree block " + std::to_string(b) + " is reached twice");
    ReadRef r;
    try {
      r = bm_.read_lock(b, &btree_node_validator());
    } catch (const PdataError& e) {
      damaged(e.what());
    }
    ConstNode n(r.data());
    uint32_t vs = n.is_internal() ? 8 : value_size_;
    if (n.value_size() != vs || n.is_internal() == n.is_leaf())
      damaged("btree node " + std::to_string(b) + " has an unexpected layout");
    for (uint32_t i = 0; i < n.nr_entries(); ++i) {
      uint64_t k = n.key(i);
      if (n.is_leaf()) {
        if (have_last_ && k <= last_key_)
          damaged("keys out of order in btree node " + std::to_string(b));
        have_last_ = true;
        last_key_ = k;
        fn(k, n.value_ptr(i));
      } else {
        visit(n.value64(i), depth + 1, fn);
      }
    }
  }

  BlockManager& bm_;
  uint32_t value_size_;
  std::unordered_set<uint64_t> visited_;
  bool have_last_ = false;
  uint64_t last_key_ = 0;
};

Superblock read_superblock(BlockManager& bm, uint64_t location) {
  try {
    ReadRef r = bm.read_lock(location, &superblock_validator());
    return Superblock::decode(r.data());
  } catch (const PdataError& e) {
    throw DumpError(std::string("bad superblock: ") + e.what());
  }
}

}  // namespace

void dump_metadata(BlockDevice& dev, const DumpOptions& options, MetadataVisitor& out) {
  // Each node is read once, so a small cache suffices.
  BlockManager bm(dev, 64);
  Superblock live = read_superblock(bm, 0);
  Superblock sb = live;
  if (options.metadata_snap) {
    if (!live.held_root) throw DumpError("no current metadata snapshot (held_root is 0)");
    if (options.snap_location && *options.snap_location != live.held_root)
      throw DumpError("metadata snapshot does not match that in superblock (block " +
                      std::to_string(*options.snap_location) + " given, superblock holds " +
                      std::to_string(live.held_root) + ")");
    sb = read_superblock(bm, live.held_root);
  }

  std::map<uint64_t, DeviceDetails> details;
  OrderedWalk(bm, DeviceDetails::kDiskSize).run(sb.device_details_root, [&](uint64_t k, const std::byte* v) {
    if (options.dev_ids.empty() || options.dev_ids.count(k)) details[k] = DeviceDetails::decode(v);
  });

  SuperblockInfo info;
  info.time = sb.time;
  info.transaction = sb.trans_id;
  info.flags = sb.flags;
  info.version = sb.version;
  info.data_block_size = sb.data_block_size;
  // A metadata snapshot carries no space maps, so its data device size is unknown.
  info.nr_data_blocks = options.metadata_snap ? 0 : sb.data_sm_root().nr_blocks;
  out.begin_superblock(info);

  std::vector<std::pair<uint64_t, uint64_t>> subtrees;
  OrderedWalk(bm, 8).run(sb.data_mapping_root, [&](uint64_t k, const std::byte* v) {
    subtrees.emplace_back(k, load_le64(v));
  });

  for (auto& [dev_id, root] : subtrees) {
    if (!options.dev_ids.empty() && !options.dev_ids.count(dev_id)) continue;
    auto d = details.find(dev_id);
    if (d == details.end())
      throw DumpError("mappings present for device " + std::to_string(dev_id) +
                      ", but it isn't present in device tree");
    // thin_dump 0.9.0 prints device ids as 32 bits; real ids have at most 24.
    DeviceInfo di{static_cast<uint32_t>(dev_id), d->second.mapped_blocks, d->second.transaction_id,
                  d->second.creation_time, d->second.snapshotted_time};
    out.begin_device(di);
    if (!options.skip_mappings) {
      RunCoalescer runs(out);
      uint64_t total = live.metadata_sm_root().nr_allocated;
      OrderedWalk(bm, 8).run(root, [&](uint64_t k, const std::byte* v) {
        if (options.progress && (k & 0xfff) == 0) options.progress(bm.stats().device_reads, total);
        BlockTime bt = unpack_block_time(load_le64(v));
        runs.add(k, bt.block, bt.time);
      });
      runs.flush();
    }
    out.end_device();
  }
  out.end_superblock();
}

}  // namespace thinsim::thin
