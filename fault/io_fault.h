// IO errors injected into a disk: which operations fail, after how many matching ones
// succeed, and for how many. A rule is a plain value so that scenarios, fuzzers and crash
// explorers can build it; FaultyDisk applies it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace thinsim::fault {

enum IoOp : unsigned {
  kRead = 1u << 0,
  kWrite = 1u << 1,
  kFlush = 1u << 2,
  kDiscard = 1u << 3,
  kAnyOp = kRead | kWrite | kFlush | kDiscard,
};

struct IoFaultRule {
  unsigned ops = 0;               // IoOp bits: the operations the rule applies to
  uint64_t after = 0;             // matching operations that succeed first
  std::optional<uint64_t> count;  // matching operations that then fail; none: every one
  int error = 5;                  // EIO
  friend bool operator==(const IoFaultRule&, const IoFaultRule&) = default;
};

// "read", "write,flush", "any": the spelling used by scenarios and reports.
std::string ops_to_string(unsigned ops);
// Parses one op word; 0 if unknown.
unsigned op_from_string(const std::string& word);

}  // namespace thinsim::fault
