#include "model/pdata/btree_node.h"

#include <string>

#include "model/pdata/error.h"

namespace thinsim::pdata {
namespace {

class BtreeNodeValidator final : public ChecksumValidator {
 public:
  BtreeNodeValidator() : ChecksumValidator("btree_node", BlockKind::btree_node) {}

  void check(const std::byte* data, block_t location) const override {
    check_location(data, location);
    check_checksum(data, location);
    ConstNode n(data);
    auto fail = [&](const std::string& why) {
      throw CorruptionError(EILSEQ, location,
                            "btree_node check failed for block " + std::to_string(location) +
                                ": " + why);
    };
    if (kNodeHeaderSize + (8 + uint64_t(n.value_size())) * n.max_entries() > kMetadataBlockSize)
      fail("max_entries too large");
    if (n.nr_entries() > n.max_entries()) fail("too many entries");
    if (!(n.flags() & (kInternalNode | kLeafNode))) fail("node is neither INTERNAL or LEAF");
  }
};

}  // namespace

const Validator& btree_node_validator() {
  static const BtreeNodeValidator v;
  return v;
}

}  // namespace thinsim::pdata
