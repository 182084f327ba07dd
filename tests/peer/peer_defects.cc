#include "tests/peer/peer_defects.h"

#include <algorithm>
#include <stdexcept>

namespace thinsim::peer {

namespace {

// Index of the last key <= `key`, or -1: the btree's lower_bound.
long lower_bound_index(const std::vector<uint64_t>& keys, uint64_t key) {
  auto it = std::upper_bound(keys.begin(), keys.end(), key);
  return static_cast<long>(it - keys.begin()) - 1;
}

void insert_sorted(std::vector<uint64_t>& leaf, uint64_t key) {
  auto it = std::lower_bound(leaf.begin(), leaf.end(), key);
  if (it == leaf.end() || *it != key) leaf.insert(it, key);
}

}  // namespace

bool ThinRestoreRefCountTree::lookup(uint64_t key) const {
  size_t leaf = 0;
  if (!root_is_leaf_) {
    long i = lower_bound_index(keys_, key);
    if (i < 0) return false;
    leaf = static_cast<size_t>(i);
  }
  return std::binary_search(leaves_[leaf].begin(), leaves_[leaf].end(), key);
}

bool ThinRestoreRefCountTree::insert(uint64_t key) {
  const size_t half = kMaxEntries / 2;
  if (root_is_leaf_) {
    auto& root = leaves_[0];
    if (root.size() == kMaxEntries) {
      // split_beneath: the new root gets both halves' first keys, then the insert steps
      // into a half without revisiting the root.
      std::vector<uint64_t> right(root.begin() + half, root.end());
      root.resize(half);
      keys_ = {root.front(), right.front()};
      leaves_.push_back(std::move(right));
      root_is_leaf_ = false;
      insert_sorted(key < leaves_[1].front() ? leaves_[0] : leaves_[1], key);
    } else {
      insert_sorted(root, key);
    }
    return true;
  }
  if (keys_.size() == kMaxEntries) return false;  // the root itself would split: not modelled
  long i = lower_bound_index(keys_, key);
  if (i < 0) {
    keys_[0] = key;  // the tools lower the bound here, before the child is split
    i = 0;
  }
  size_t at = static_cast<size_t>(i);
  if (leaves_[at].size() == kMaxEntries) {
    // split_sibling: the parent's key for the left half becomes that half's first key.
    std::vector<uint64_t> right(leaves_[at].begin() + half, leaves_[at].end());
    leaves_[at].resize(half);
    keys_[at] = leaves_[at].front();
    keys_.insert(keys_.begin() + static_cast<long>(at) + 1, right.front());
    leaves_.insert(leaves_.begin() + static_cast<long>(at) + 1, std::move(right));
    if (key >= keys_[at + 1]) ++at;
  }
  insert_sorted(leaves_[at], key);
  return true;
}

bool ThinRestoreRefCountTree::increment(uint64_t data_block) {
  if (outcome_ != Outcome::restores) return false;
  uint64_t index = n_++;
  uint32_t& count = counts_[data_block];
  // sm_disk: a count of 3 or more lives in the tree; reading it is a lookup.
  if (count >= 3 && !lookup(data_block)) {
    outcome_ = Outcome::loses_ref_count;
    lost_block_ = data_block;
    failing_increment_ = index;
    auto it = lost_at_.find(data_block);
    losing_increment_ = it == lost_at_.end() ? index : it->second;
    return false;
  }
  ++count;
  if (count >= 3) {
    if (!insert(data_block)) {
      outcome_ = Outcome::beyond_model;
      return false;
    }
    if (!lookup(data_block)) lost_at_.emplace(data_block, index);
  }
  return true;
}

std::string ThinRestoreRefCountTree::describe() const {
  switch (outcome_) {
    case Outcome::restores:
      return "thin_restore 0.9.0 keeps every reference count findable";
    case Outcome::beyond_model:
      return "the reference-count tree grows beyond two levels; the defect model does not follow it";
    case Outcome::loses_ref_count:
      break;
  }
  return "thin_restore 0.9.0 btree defect: data block " + std::to_string(lost_block_) +
         " entered the reference-count tree below its lowest key while a node split (mapping increment " +
         std::to_string(losing_increment_) + "), so the lookup at increment " + std::to_string(failing_increment_) +
         " fails with 'ref count not in tree'";
}

namespace {

// The value of attribute `name` in `line`, if present.
std::optional<uint64_t> attribute(const std::string& line, const std::string& name, size_t line_no) {
  std::string pat = " " + name + "=\"";
  size_t at = line.find(pat);
  if (at == std::string::npos) return std::nullopt;
  at += pat.size();
  size_t end = line.find('"', at);
  if (end == std::string::npos || end == at)
    throw std::runtime_error("pool XML line " + std::to_string(line_no) + ": bad " + name + " attribute");
  uint64_t v = 0;
  for (size_t k = at; k < end; ++k) {
    char c = line[k];
    if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10)
      throw std::runtime_error("pool XML line " + std::to_string(line_no) + ": bad " + name + " value");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

ThinRestoreRefCountTree replay_thin_restore_ref_counts(std::istream& xml) {
  ThinRestoreRefCountTree tree;
  std::string line;
  size_t line_no = 0;
  while (std::getline(xml, line)) {
    ++line_no;
    if (line.find("<single_mapping") != std::string::npos) {
      auto b = attribute(line, "data_block", line_no);
      if (!b) throw std::runtime_error("pool XML line " + std::to_string(line_no) + ": single_mapping without data_block");
      if (!tree.increment(*b)) break;
    } else if (line.find("<range_mapping") != std::string::npos) {
      auto b = attribute(line, "data_begin", line_no);
      auto n = attribute(line, "length", line_no);
      if (!b || !n) throw std::runtime_error("pool XML line " + std::to_string(line_no) + ": range_mapping without data_begin/length");
      bool going = true;
      for (uint64_t k = 0; k < *n && going; ++k) going = tree.increment(*b + k);
      if (!going) break;
    }
  }
  return tree;
}

}  // namespace thinsim::peer
