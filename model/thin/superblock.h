// The dm-thin superblock (thin_disk_superblock, 364 packed bytes at the start of block 0;
// a metadata snapshot is a copy of it elsewhere with both space-map roots zeroed).
#pragma once

#include <array>
#include <cstdint>

#include "model/pdata/space_map.h"
#include "model/pdata/validator.h"

namespace thinsim::thin {

struct Superblock {
  uint32_t csum = 0;
  uint32_t flags = 0;
  uint64_t blocknr = 0;
  std::array<std::byte, 16> uuid{};
  uint64_t magic = 0;
  uint32_t version = 0;
  uint32_t time = 0;
  uint64_t trans_id = 0;
  uint64_t held_root = 0;  // metadata snapshot location, 0 = none
  std::array<std::byte, 128> data_space_map_root{};
  std::array<std::byte, 128> metadata_space_map_root{};
  uint64_t data_mapping_root = 0;
  uint64_t device_details_root = 0;
  uint32_t data_block_size = 0;      // sectors
  uint32_t metadata_block_size = 0;  // sectors, always 8
  uint64_t metadata_nr_blocks = 0;   // as of format time
  uint32_t compat_flags = 0;
  uint32_t compat_ro_flags = 0;
  uint32_t incompat_flags = 0;

  static constexpr size_t kDiskSize = 364;

  pdata::SmRoot data_sm_root() const { return pdata::SmRoot::decode(data_space_map_root.data()); }
  pdata::SmRoot metadata_sm_root() const {
    return pdata::SmRoot::decode(metadata_space_map_root.data());
  }
  bool needs_check() const;

  // Fields are written at their offsets; the rest of the block is left untouched.
  void encode(std::byte* block) const;
  static Superblock decode(const std::byte* block);
};

// Checks blocknr, magic and checksum (sb_check).
const pdata::Validator& superblock_validator();

// The byte offsets of the fields, for tools that patch or report them.
namespace sb_offset {
inline constexpr size_t csum = 0, flags = 4, blocknr = 8, uuid = 16, magic = 32, version = 40,
                        time = 44, trans_id = 48, held_root = 56, data_sm_root = 64,
                        metadata_sm_root = 192, data_mapping_root = 320,
                        device_details_root = 328, data_block_size = 336,
                        metadata_block_size = 340, metadata_nr_blocks = 344, compat_flags = 352,
                        compat_ro_flags = 356, incompat_flags = 360;
}

}  // namespace thinsim::thin
