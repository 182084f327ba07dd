// The thin-pool target of one loaded table (struct pool_c): its requested and adjusted
// features, low water mark and length, bound to the shared Pool on resume; resize on
// preresume, messages and status lines.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/pool/pool.h"
#include "model/pool/pool_features.h"
#include "model/pool/pool_registry.h"
#include "model/pool/pool_table.h"

namespace thinsim::pool {

class PoolTarget {
 public:
  // pool_ctr once the arguments are parsed; len is the table length in sectors.
  PoolTarget(PoolRegistry& registry, const std::string& pool_md, uint64_t len,
             const PoolTableArgs& args, uint64_t now_ms);
  // pool_dtr.
  ~PoolTarget();
  PoolTarget(const PoolTarget&) = delete;
  PoolTarget& operator=(const PoolTarget&) = delete;

  Pool& pool() { return *pool_; }
  std::shared_ptr<Pool> pool_ptr() { return pool_; }
  uint64_t low_water_blocks() const { return args_.low_water_blocks; }

  // Throws TargetError when the resize checks fail.
  void preresume();
  void resume() { pool_->resume(); }
  void presuspend() { pool_->presuspend(); }
  void postsuspend() { pool_->postsuspend(); }

  // pool_message: 0 or a positive errno; every success is followed by a commit.
  int message(const std::vector<std::string>& argv);

  // STATUSTYPE_INFO (commits first unless noflush or suspended) and STATUSTYPE_TABLE,
  // with the table's device names where the kernel prints major:minor.
  std::string status_info(bool noflush, bool suspended);
  std::string status_table() const;
  uint64_t metadata_threshold() const;  // calc_metadata_threshold

  PoolFeatures requested_pf, adjusted_pf;

 private:
  void maybe_resize_data_dev(bool& need_commit);
  void maybe_resize_metadata_dev(bool& need_commit);
  int message_create_thin(const std::vector<std::string>& argv);
  int message_create_snap(const std::vector<std::string>& argv);
  int message_delete(const std::vector<std::string>& argv);
  int message_set_transaction_id(const std::vector<std::string>& argv);
  int message_reserve_metadata_snap(const std::vector<std::string>& argv);
  int message_release_metadata_snap(const std::vector<std::string>& argv);
  bool check_arg_count(const std::vector<std::string>& argv, size_t required);
  std::optional<uint64_t> dev_id_arg(const std::string& s);

  std::shared_ptr<Pool> pool_;
  PoolTableArgs args_;
  uint64_t len_;
};

// Metadata device size in 4 KiB blocks as the kernel sees it (capped at the maximum).
uint64_t metadata_dev_size_in_blocks(const pdata::BlockDevice& dev);

}  // namespace thinsim::pool
