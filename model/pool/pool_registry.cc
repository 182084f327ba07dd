#include "model/pool/pool_registry.h"

#include <cerrno>

#include "model/pool/target_error.h"

namespace thinsim::pool {

std::shared_ptr<Pool> PoolRegistry::find_or_create(const std::string& pool_md,
                                                   pdata::BlockDevice& metadata_dev,
                                                   pdata::BlockDevice& data_dev,
                                                   uint32_t block_size, bool read_only,
                                                   uint64_t now_ms, bool& created) {
  created = false;
  for (auto& [name, weak] : pools_) {
    auto p = weak.lock();
    if (!p || &p->metadata_dev() != &metadata_dev) continue;
    if (name != pool_md) throw TargetError(EBUSY, "metadata device already in use by a pool");
    if (&p->data_dev() != &data_dev) throw TargetError(EBUSY, "data device already in use by a pool");
    return p;
  }
  if (auto p = lookup(pool_md)) {
    // Same mapped device, other devices.
    throw TargetError(EINVAL, "different pool cannot replace a pool");
  }
  auto p = std::make_shared<Pool>(pool_md, metadata_dev, data_dev, block_size, read_only, now_ms);
  p->set_log_sink(log_sink_);
  pools_[pool_md] = p;
  created = true;
  return p;
}

std::shared_ptr<Pool> PoolRegistry::lookup(const std::string& pool_md) const {
  auto it = pools_.find(pool_md);
  return it == pools_.end() ? nullptr : it->second.lock();
}

std::vector<std::shared_ptr<Pool>> PoolRegistry::all() const {
  std::vector<std::shared_ptr<Pool>> out;
  for (auto& [name, weak] : pools_)
    if (auto p = weak.lock()) out.push_back(p);
  return out;
}

}  // namespace thinsim::pool
