// The table of live pool objects (dm_thin_pool_table): a pool is found again by its
// mapped device or its metadata device, so reloading a pool's table keeps the pool.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "model/pool/pool.h"

namespace thinsim::pool {

class PoolRegistry {
 public:
  // __pool_find: the existing pool for this mapped device / metadata device, or a new
  // one. Throws TargetError (EBUSY / EINVAL) where the kernel refuses.
  std::shared_ptr<Pool> find_or_create(const std::string& pool_md, pdata::BlockDevice& metadata_dev,
                                       pdata::BlockDevice& data_dev, uint32_t block_size,
                                       bool read_only, uint64_t now_ms, bool& created);
  // __pool_table_lookup by mapped device name.
  std::shared_ptr<Pool> lookup(const std::string& pool_md) const;
  // Every live pool, for advancing time.
  std::vector<std::shared_ptr<Pool>> all() const;
  // Where new pools send their log lines, besides keeping them.
  void set_log_sink(std::function<void(const std::string&)> sink) { log_sink_ = std::move(sink); }

 private:
  std::map<std::string, std::weak_ptr<Pool>> pools_;
  std::function<void(const std::string&)> log_sink_;
};

}  // namespace thinsim::pool
