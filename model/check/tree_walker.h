// A checked, linear-time walk of one btree. Every node reference is counted; each node
// is read and checked once (checksum, blocknr, header, key order, key ranges given by its
// parent, occupancy, equal leaf depth) and later references to it (sharing between
// snapshots) are only checked for consistency, so cycles and DAGs cannot make the walk
// loop or blow up.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/check/block_reader.h"
#include "model/check/findings.h"
#include "model/check/ref_counts.h"
#include "model/pdata/btree_node.h"

namespace thinsim::check {

// Kinds of tree: a node may only be shared between trees of the same kind.
enum class TreeKind : uint8_t { device_details, mapping_top, mapping_bottom, sm_index, ref_count };

struct TreeSpec {
  TreeKind kind;
  uint32_t value_size;  // of the leaves
  bool check_occupancy = true;
};

struct WalkResult {
  bool ok = false;           // the whole tree was readable and consistent
  uint64_t nr_entries = 0;   // leaf entries reachable (counting shared parts each time)
};

class TreeWalker {
 public:
  // Called once per distinct, valid leaf.
  using LeafFn = std::function<void(uint64_t block, pdata::ConstNode leaf)>;

  TreeWalker(BlockReader& reader, MetadataRefs& refs, Findings& findings);

  // Walks the tree rooted at `root`; `where` names it in findings.
  WalkResult walk(uint64_t root, const TreeSpec& spec, const std::string& where,
                  const LeafFn& on_leaf);

  // Deepest tree accepted (the kernel's own walkers stop at 64 levels).
  static constexpr unsigned kMaxDepth = 64;

 private:
  struct Summary {
    uint64_t min_key = 0, max_key = 0;
    uint64_t nr_entries = 0;
    TreeKind kind = TreeKind::device_details;
    uint16_t height = 0;
    bool empty = true;
    bool on_path = false;
    bool ok = false;
  };
  struct Range {
    uint64_t lo = 0;
    std::optional<uint64_t> hi;
  };
  struct NodeResult {
    bool ok = false;
    uint16_t height = 0;
    uint64_t nr_entries = 0;
  };

  NodeResult walk_node(uint64_t b, Range range, unsigned depth, bool is_root);
  NodeResult revisit(uint64_t b, const Range& range);
  bool check_header(uint64_t b, pdata::ConstNode n, bool is_root);
  bool check_keys(uint64_t b, pdata::ConstNode n, const Range& range);

  BlockReader& reader_;
  MetadataRefs& refs_;
  Findings& findings_;
  std::unordered_map<uint64_t, Summary> nodes_;
  std::vector<Block> buffers_;  // one per depth
  // The current walk.
  const TreeSpec* spec_ = nullptr;
  const std::string* where_ = nullptr;
  const LeafFn* on_leaf_ = nullptr;
};

}  // namespace thinsim::check
