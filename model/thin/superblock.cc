#include "model/thin/superblock.h"

#include <cstring>
#include <string>

#include "model/pdata/endian.h"
#include "model/pdata/error.h"
#include "model/thin/format.h"

namespace thinsim::thin {

using namespace pdata;

bool Superblock::needs_check() const { return flags & kNeedsCheckFlag; }

void Superblock::encode(std::byte* b) const {
  namespace o = sb_offset;
  store_le32(b + o::csum, csum);
  store_le32(b + o::flags, flags);
  store_le64(b + o::blocknr, blocknr);
  std::memcpy(b + o::uuid, uuid.data(), uuid.size());
  store_le64(b + o::magic, magic);
  store_le32(b + o::version, version);
  store_le32(b + o::time, time);
  store_le64(b + o::trans_id, trans_id);
  store_le64(b + o::held_root, held_root);
  std::memcpy(b + o::data_sm_root, data_space_map_root.data(), 128);
  std::memcpy(b + o::metadata_sm_root, metadata_space_map_root.data(), 128);
  store_le64(b + o::data_mapping_root, data_mapping_root);
  store_le64(b + o::device_details_root, device_details_root);
  store_le32(b + o::data_block_size, data_block_size);
  store_le32(b + o::metadata_block_size, metadata_block_size);
  store_le64(b + o::metadata_nr_blocks, metadata_nr_blocks);
  store_le32(b + o::compat_flags, compat_flags);
  store_le32(b + o::compat_ro_flags, compat_ro_flags);
  store_le32(b + o::incompat_flags, incompat_flags);
}

Superblock Superblock::decode(const std::byte* b) {
  namespace o = sb_offset;
  Superblock sb;
  sb.csum = load_le32(b + o::csum);
  sb.flags = load_le32(b + o::flags);
  sb.blocknr = load_le64(b + o::blocknr);
  std::memcpy(sb.uuid.data(), b + o::uuid, sb.uuid.size());
  sb.magic = load_le64(b + o::magic);
  sb.version = load_le32(b + o::version);
  sb.time = load_le32(b + o::time);
  sb.trans_id = load_le64(b + o::trans_id);
  sb.held_root = load_le64(b + o::held_root);
  std::memcpy(sb.data_space_map_root.data(), b + o::data_sm_root, 128);
  std::memcpy(sb.metadata_space_map_root.data(), b + o::metadata_sm_root, 128);
  sb.data_mapping_root = load_le64(b + o::data_mapping_root);
  sb.device_details_root = load_le64(b + o::device_details_root);
  sb.data_block_size = load_le32(b + o::data_block_size);
  sb.metadata_block_size = load_le32(b + o::metadata_block_size);
  sb.metadata_nr_blocks = load_le64(b + o::metadata_nr_blocks);
  sb.compat_flags = load_le32(b + o::compat_flags);
  sb.compat_ro_flags = load_le32(b + o::compat_ro_flags);
  sb.incompat_flags = load_le32(b + o::incompat_flags);
  return sb;
}

namespace {

class SuperblockValidator final : public Validator {
 public:
  const char* name() const override { return "superblock"; }

  void check(const std::byte* data, block_t location) const override {
    uint64_t blocknr = load_le64(data + sb_offset::blocknr);
    if (blocknr != location)
      throw CorruptionError(ENOTBLK, location,
                            "superblock check failed for block " + std::to_string(location) +
                                ": blocknr " + std::to_string(blocknr) + " != wanted " +
                                std::to_string(location));
    uint64_t magic = load_le64(data + sb_offset::magic);
    if (magic != kSuperblockMagic)
      throw CorruptionError(EILSEQ, location,
                            "superblock check failed for block " + std::to_string(location) +
                                ": magic " + std::to_string(magic) + " != wanted " +
                                std::to_string(kSuperblockMagic));
    uint32_t want = block_checksum(data, BlockKind::superblock);
    uint32_t stored = load_le32(data);
    if (want != stored)
      throw CorruptionError(EILSEQ, location,
                            "superblock check failed for block " + std::to_string(location) +
                                ": checksum " + std::to_string(stored) + " != wanted " +
                                std::to_string(want));
  }

  void prepare_for_write(std::byte* data, block_t location) const override {
    store_le64(data + sb_offset::blocknr, location);
    store_le32(data, block_checksum(data, BlockKind::superblock));
  }
};

}  // namespace

const Validator& superblock_validator() {
  static const SuperblockValidator v;
  return v;
}

}  // namespace thinsim::thin
