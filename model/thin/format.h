// Constants of the dm-thin on-disk format and pool limits (dm-thin-metadata.[ch], dm-thin.c).
#pragma once

#include <cstdint>

#include "model/pdata/space_map_bitmap.h"

namespace thinsim::thin {

inline constexpr uint64_t kSuperblockMagic = 27022010;
inline constexpr uint32_t kSuperblockLocation = 0;
inline constexpr uint32_t kThinVersion = 2;  // version 2 added the NEEDS_CHECK flag
inline constexpr uint32_t kNeedsCheckFlag = 1u << 0;
inline constexpr uint32_t kMetadataBlockSectors = 8;

// Thin device ids are 24 bits wide (enforced by the message parser and thin target).
inline constexpr uint64_t kMaxDeviceId = (1u << 24) - 1;

// Data block size limits, in 512-byte sectors: 64 KiB .. 1 GiB, a multiple of 64 KiB.
inline constexpr uint32_t kDataBlockSizeMin = 128;
inline constexpr uint32_t kDataBlockSizeMax = 2097152;
inline constexpr bool valid_data_block_size(uint64_t sectors) {
  return sectors >= kDataBlockSizeMin && sectors <= kDataBlockSizeMax &&
         sectors % kDataBlockSizeMin == 0;
}

// The metadata space map's single index block limits the metadata device.
inline constexpr uint64_t kMetadataMaxBlocks = pdata::kMaxMetadataBlocks;  // 4,161,600
inline constexpr uint64_t kMetadataMaxSectors = kMetadataMaxBlocks * kMetadataBlockSectors;

// Mapping values keep the time in 24 bits and the data block in the 40 above them.
inline constexpr uint64_t kMaxDataBlocks = uint64_t(1) << 40;
inline constexpr uint32_t kMaxTime = (1u << 24) - 1;

}  // namespace thinsim::thin
