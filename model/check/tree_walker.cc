#include "model/check/tree_walker.h"

namespace thinsim::check {

using namespace pdata;

TreeWalker::TreeWalker(BlockReader& reader, MetadataRefs& refs, Findings& findings)
    : reader_(reader), refs_(refs), findings_(findings), buffers_(kMaxDepth + 2) {}

WalkResult TreeWalker::walk(uint64_t root, const TreeSpec& spec, const std::string& where,
                            const LeafFn& on_leaf) {
  spec_ = &spec;
  where_ = &where;
  on_leaf_ = &on_leaf;
  NodeResult r = walk_node(root, Range{}, 0, true);
  return WalkResult{r.ok, r.nr_entries};
}

TreeWalker::NodeResult TreeWalker::revisit(uint64_t b, const Range& range) {
  auto it = nodes_.find(b);
  // The first visit found the node unreadable and reported it already.
  if (it == nodes_.end()) return {};
  const Summary& s = it->second;
  if (s.on_path) {
    findings_.fatal(b, *where_, "cycle: the node is its own ancestor");
    return {};
  }
  if (s.kind != spec_->kind) {
    findings_.fatal(b, *where_, "node is shared with a different kind of tree");
    return {};
  }
  if (!s.empty && (s.min_key < range.lo || (range.hi && s.max_key >= *range.hi))) {
    findings_.fatal(b, *where_,
                    "shared node holds keys " + std::to_string(s.min_key) + ".." +
                        std::to_string(s.max_key) + " outside the range its parent gives (" +
                        std::to_string(range.lo) + ".." +
                        (range.hi ? std::to_string(*range.hi - 1) : std::string("max")) + ")");
    return {};
  }
  return NodeResult{s.ok, s.height, s.nr_entries};
}

bool TreeWalker::check_header(uint64_t b, ConstNode n, bool is_root) {
  uint32_t flags = n.flags();
  bool internal = flags & kInternalNode, leaf = flags & kLeafNode;
  if (internal == leaf) {
    findings_.fatal(b, *where_, "node flags " + std::to_string(flags) +
                                    " are not exactly one of internal (1) and leaf (2)");
    return false;
  }
  uint32_t want_vs = internal ? 8 : spec_->value_size;
  if (n.value_size() != want_vs) {
    findings_.fatal(b, *where_, "value size mismatch: expected " + std::to_string(want_vs) +
                                    ", but got " + std::to_string(n.value_size()));
    return false;
  }
  uint32_t max = n.max_entries();
  if (kNodeHeaderSize + (8 + uint64_t(want_vs)) * max > kMetadataBlockSize) {
    findings_.fatal(b, *where_, "max entries too large: " + std::to_string(max));
    return false;
  }
  if (max % 3 != 0) {
    findings_.fatal(b, *where_, "max entries is not divisible by 3: " + std::to_string(max));
    return false;
  }
  if (n.nr_entries() > max) {
    findings_.fatal(b, *where_, "bad nr_entries: " + std::to_string(n.nr_entries()) +
                                    " > max_entries " + std::to_string(max));
    return false;
  }
  if (internal && n.nr_entries() == 0) {
    findings_.fatal(b, *where_, "internal node has no entries");
    return false;
  }
  if (max != calc_max_entries(want_vs))
    findings_.note(b, *where_, "max entries " + std::to_string(max) + " differs from the " +
                                        std::to_string(calc_max_entries(want_vs)) +
                                        " the kernel uses for this value size");
  if (!is_root && spec_->check_occupancy && n.nr_entries() < max / 3)
    findings_.non_fatal(b, *where_, "too few entries in btree node: " +
                                        std::to_string(n.nr_entries()) + ", expected at least " +
                                        std::to_string(max / 3) + " (max_entries = " +
                                        std::to_string(max) + ")");
  return true;
}

bool TreeWalker::check_keys(uint64_t b, ConstNode n, const Range& range) {
  uint32_t nr = n.nr_entries();
  for (uint32_t i = 1; i < nr; ++i) {
    if (n.key(i) <= n.key(i - 1)) {
      findings_.fatal(b, *where_, "keys are out of order: " + std::to_string(n.key(i)) +
                                      " follows " + std::to_string(n.key(i - 1)) +
                                      " at entry " + std::to_string(i));
      return false;
    }
  }
  if (nr == 0) return true;
  if (n.key(0) < range.lo) {
    findings_.fatal(b, *where_, "parent key mismatch: parent was " + std::to_string(range.lo) +
                                    ", but lowest in node was " + std::to_string(n.key(0)));
    return false;
  }
  if (range.hi && n.key(nr - 1) >= *range.hi) {
    findings_.fatal(b, *where_, "key " + std::to_string(n.key(nr - 1)) +
                                    " is not below the next parent key " +
                                    std::to_string(*range.hi));
    return false;
  }
  return true;
}

TreeWalker::NodeResult TreeWalker::walk_node(uint64_t b, Range range, unsigned depth,
                                             bool is_root) {
  if (b >= refs_.size()) {
    findings_.fatal(b, *where_, "reference to a block beyond the end of the metadata device (" +
                                    std::to_string(refs_.size()) + " blocks)");
    return {};
  }
  if (depth > kMaxDepth) {
    findings_.fatal(b, *where_, "tree deeper than " + std::to_string(kMaxDepth) + " levels");
    return {};
  }
  uint32_t earlier = refs_.add(b);
  if (BlockRole other = refs_.claim(b, BlockRole::btree_node); other != BlockRole::none) {
    findings_.fatal(b, *where_, std::string("block is used both as a btree node and as a ") +
                                    role_name(other));
    return {};
  }
  if (earlier) return revisit(b, range);

  Block& buf = buffers_[depth];
  std::string error;
  if (!reader_.read_validated(b, BlockKind::btree_node, buf, error)) {
    findings_.fatal(b, *where_, error);
    return {};
  }
  ConstNode n(buf.data());
  if (!check_header(b, n, is_root) || !check_keys(b, n, range)) return {};

  uint32_t nr = n.nr_entries();
  Summary& s = nodes_[b];
  s.kind = spec_->kind;
  s.empty = nr == 0;
  if (nr) {
    s.min_key = n.key(0);
    s.max_key = n.key(nr - 1);
  }
  s.on_path = true;

  NodeResult result{true, 0, 0};
  if (n.is_leaf()) {
    result.nr_entries = nr;
    (*on_leaf_)(b, n);
  } else {
    std::optional<uint16_t> child_height;
    for (uint32_t i = 0; i < nr; ++i) {
      Range child{n.key(i), i + 1 < nr ? std::optional<uint64_t>(n.key(i + 1)) : range.hi};
      NodeResult c = walk_node(n.value64(i), child, depth + 1, false);
      // The buffer for this depth is reused only by siblings' walks at deeper depths,
      // so n stays valid.
      if (!c.ok) {
        result.ok = false;
        continue;
      }
      result.nr_entries += c.nr_entries;
      if (!child_height) {
        child_height = c.height;
      } else if (*child_height != c.height) {
        findings_.fatal(b, *where_, "leaves at different depths: child " + std::to_string(i) +
                                        " has height " + std::to_string(c.height) +
                                        ", child 0 has " + std::to_string(*child_height));
        result.ok = false;
      }
    }
    result.height = child_height ? static_cast<uint16_t>(*child_height + 1) : 1;
  }
  // nodes_ may have rehashed during the recursion: look the summary up again.
  Summary& done = nodes_[b];
  done.on_path = false;
  done.ok = result.ok;
  done.height = result.height;
  done.nr_entries = result.nr_entries;
  return result;
}

}  // namespace thinsim::check
