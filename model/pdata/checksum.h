// CRC-32C as persistent-data uses it: seed 0xffffffff, no final inversion, then
// XOR with a per-block-type constant (dm_bm_checksum).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace thinsim::pdata {

// Raw CRC-32C update (reflected polynomial 0x82F63B78) without pre/post inversion.
uint32_t crc32c_update(uint32_t crc, const void* data, size_t len);

// dm_bm_checksum(data, len, xor): crc32c(~0, data, len) ^ xor.
inline uint32_t dm_checksum(const void* data, size_t len, uint32_t xor_value) {
  return crc32c_update(0xffffffffu, data, len) ^ xor_value;
}

// Per-type XOR constants of the block validators.
inline constexpr uint32_t kSuperblockCsumXor = 160774;
inline constexpr uint32_t kBtreeNodeCsumXor = 121107;
inline constexpr uint32_t kBitmapCsumXor = 240779;
inline constexpr uint32_t kIndexCsumXor = 160478;

enum class BlockKind { superblock, btree_node, bitmap, metadata_index };

std::string_view block_kind_name(BlockKind kind);
uint32_t block_kind_xor(BlockKind kind);

// The checksum a 4 KiB metadata block of this kind must carry in its first 4 bytes.
uint32_t block_checksum(const void* block, BlockKind kind);

// Identifies a block's kind from its stored checksum, as the tools do: XOR the stored
// and computed values and match a known constant. Empty if no kind matches.
std::optional<BlockKind> identify_block(const void* block);

}  // namespace thinsim::pdata
