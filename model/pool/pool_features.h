// Pool modes and feature flags (struct pool_features in dm-thin.c).
#pragma once

#include <string>

namespace thinsim::pool {

// Ordered by degradation, as in the kernel: code compares modes with < and >=.
enum class PoolMode { write, out_of_data_space, out_of_metadata_space, read_only, fail };

inline bool is_read_only_mode(PoolMode m) {
  return m == PoolMode::out_of_metadata_space || m == PoolMode::read_only;
}

// The name the kernel logs when it switches to a mode ("switching pool to ... mode").
const char* mode_description(PoolMode m);

struct PoolFeatures {
  PoolMode mode = PoolMode::write;  // read_only feature -> PoolMode::read_only
  bool zero_new_blocks = true;      // cleared by skip_block_zeroing
  bool discard_enabled = true;      // cleared by ignore_discard
  bool discard_passdown = true;     // cleared by no_discard_passdown
  bool error_if_no_space = false;

  bool operator==(const PoolFeatures&) const = default;
};

// The feature group of a TABLE status line (emit_flags): "<count> <feature>... ".
std::string emit_flags(const PoolFeatures& pf);

}  // namespace thinsim::pool
