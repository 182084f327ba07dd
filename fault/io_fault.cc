#include "fault/io_fault.h"

namespace thinsim::fault {

namespace {
constexpr struct {
  IoOp op;
  const char* name;
} kOps[] = {{kRead, "read"}, {kWrite, "write"}, {kFlush, "flush"}, {kDiscard, "discard"}};
}  // namespace

std::string ops_to_string(unsigned ops) {
  if (ops == kAnyOp) return "any";
  std::string s;
  for (const auto& o : kOps)
    if (ops & o.op) {
      if (!s.empty()) s += ',';
      s += o.name;
    }
  return s;
}

unsigned op_from_string(const std::string& word) {
  if (word == "any") return kAnyOp;
  for (const auto& o : kOps)
    if (word == o.name) return o.op;
  return 0;
}

}  // namespace thinsim::fault
