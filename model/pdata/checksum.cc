#include "model/pdata/checksum.h"

#include <array>

#include "model/pdata/endian.h"
#include "model/pdata/geometry.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace thinsim::pdata {
namespace {

using Table = std::array<std::array<uint32_t, 256>, 8>;

constexpr Table make_tables() {
  Table t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}

constexpr Table kTables = make_tables();

uint32_t crc32c_portable(uint32_t crc, const unsigned char* p, size_t len) {
  while (len >= 8) {
    uint64_t w = load_le64(p) ^ crc;
    crc = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
          kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
          kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const unsigned char* p,
                                                          size_t len) {
  uint64_t c = crc;
  while (len >= 8) {
    c = _mm_crc32_u64(c, load_le64(p));
    p += 8;
    len -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (len--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

bool have_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace

uint32_t crc32c_update(uint32_t crc, const void* data, size_t len) {
  auto p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
  if (have_sse42()) return crc32c_sse42(crc, p, len);
#endif
  return crc32c_portable(crc, p, len);
}

std::string_view block_kind_name(BlockKind kind) {
  switch (kind) {
    case BlockKind::superblock: return "superblock";
    case BlockKind::btree_node: return "btree node";
    case BlockKind::bitmap: return "space map bitmap";
    case BlockKind::metadata_index: return "metadata space map index";
  }
  return "unknown";
}

uint32_t block_kind_xor(BlockKind kind) {
  switch (kind) {
    case BlockKind::superblock: return kSuperblockCsumXor;
    case BlockKind::btree_node: return kBtreeNodeCsumXor;
    case BlockKind::bitmap: return kBitmapCsumXor;
    case BlockKind::metadata_index: return kIndexCsumXor;
  }
  return 0;
}

uint32_t block_checksum(const void* block, BlockKind kind) {
  auto p = static_cast<const unsigned char*>(block);
  return dm_checksum(p + 4, kMetadataBlockSize - 4, block_kind_xor(kind));
}

std::optional<BlockKind> identify_block(const void* block) {
  auto p = static_cast<const unsigned char*>(block);
  uint32_t raw = crc32c_update(0xffffffffu, p + 4, kMetadataBlockSize - 4);
  uint32_t x = raw ^ load_le32(p);
  for (BlockKind k : {BlockKind::superblock, BlockKind::btree_node, BlockKind::bitmap,
                      BlockKind::metadata_index})
    if (x == block_kind_xor(k)) return k;
  return std::nullopt;
}

}  // namespace thinsim::pdata
