#include "model/pool/pool_features.h"

namespace thinsim::pool {

const char* mode_description(PoolMode m) {
  switch (m) {
    case PoolMode::write: return "write";
    case PoolMode::out_of_data_space: return "out-of-data-space";
    case PoolMode::out_of_metadata_space: return "read-only";
    case PoolMode::read_only: return "read-only";
    case PoolMode::fail: return "fail";
  }
  return "?";
}

std::string emit_flags(const PoolFeatures& pf) {
  unsigned count = !pf.zero_new_blocks + !pf.discard_enabled + !pf.discard_passdown +
                   (pf.mode == PoolMode::read_only) + pf.error_if_no_space;
  std::string s = std::to_string(count) + " ";
  if (!pf.zero_new_blocks) s += "skip_block_zeroing ";
  if (!pf.discard_enabled) s += "ignore_discard ";
  if (!pf.discard_passdown) s += "no_discard_passdown ";
  if (pf.mode == PoolMode::read_only) s += "read_only ";
  if (pf.error_if_no_space) s += "error_if_no_space ";
  return s;
}

}  // namespace thinsim::pool
