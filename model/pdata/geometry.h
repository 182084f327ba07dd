// Fixed geometry of persistent-data metadata devices.
#pragma once

#include <cstdint>

namespace thinsim::pdata {

inline constexpr uint32_t kSectorSize = 512;
inline constexpr uint32_t kSectorShift = 9;
inline constexpr uint32_t kMetadataBlockSize = 4096;
inline constexpr uint32_t kSectorsPerMetadataBlock = kMetadataBlockSize / kSectorSize;  // 8
inline constexpr uint32_t kSectorToBlockShift = 3;

using block_t = uint64_t;  // a metadata or data block number

}  // namespace thinsim::pdata
