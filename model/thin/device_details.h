// The device-details tree's value (disk_device_details, 24 bytes).
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/pdata/endian.h"

namespace thinsim::thin {

struct DeviceDetails {
  uint64_t mapped_blocks = 0;
  uint64_t transaction_id = 0;  // pool transaction id when the device was created
  uint32_t creation_time = 0;
  uint32_t snapshotted_time = 0;

  static constexpr size_t kDiskSize = 24;
  void encode(std::byte* out) const {
    pdata::store_le64(out, mapped_blocks);
    pdata::store_le64(out + 8, transaction_id);
    pdata::store_le32(out + 16, creation_time);
    pdata::store_le32(out + 20, snapshotted_time);
  }
  static DeviceDetails decode(const std::byte* in) {
    return DeviceDetails{pdata::load_le64(in), pdata::load_le64(in + 8), pdata::load_le32(in + 16),
                         pdata::load_le32(in + 20)};
  }
  bool operator==(const DeviceDetails&) const = default;
};

}  // namespace thinsim::thin
