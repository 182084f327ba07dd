// Constructor arguments of the thin-pool and thin targets (pool_ctr, thin_ctr), checked
// in the kernel's order with its error texts and errnos. Device names are resolved by
// the caller (dm core) through a callback, because the kernel opens the devices between
// checks and its errors come out in that order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/pdata/block_device.h"
#include "model/pool/pool_features.h"

namespace thinsim::pool {

constexpr uint64_t kMaxDevId = (1ull << 24) - 1;
constexpr uint32_t kDataBlockSizeMinSectors = 128;             // 64 KiB
constexpr uint32_t kDataBlockSizeMaxSectors = 2 * 1024 * 1024;  // 1 GiB

// Looks a device up by the name used in a table line; nullptr if there is none.
using DeviceResolver = std::function<pdata::BlockDevice*(const std::string& name)>;

struct PoolTableArgs {
  std::string metadata_name, data_name;
  pdata::BlockDevice* metadata_dev = nullptr;
  pdata::BlockDevice* data_dev = nullptr;
  uint32_t block_size = 0;  // sectors
  uint64_t low_water_blocks = 0;
  PoolFeatures features;
};

struct ThinTableArgs {
  std::string pool_name;
  uint64_t dev_id = 0;
  std::optional<std::string> origin_name;
  pdata::BlockDevice* origin_dev = nullptr;
};

// Throw TargetError with the kernel's ti->error text.
PoolTableArgs parse_pool_table(const std::vector<std::string>& argv, const DeviceResolver& resolve);
// Only the argument checks; whether the pool exists is the registry's business.
ThinTableArgs parse_thin_table(const std::vector<std::string>& argv, const DeviceResolver& resolve);

// kstrtoull(s, 10): decimal, optional leading '+', optional trailing newline, no overflow.
std::optional<uint64_t> kstrtoull(const std::string& s);
// read_dev_id: a decimal id no larger than kMaxDevId.
std::optional<uint64_t> read_dev_id(const std::string& s);
// dm_split_args: words separated by white space; a backslash quotes the next character.
std::vector<std::string> split_dm_args(const std::string& line);

}  // namespace thinsim::pool
