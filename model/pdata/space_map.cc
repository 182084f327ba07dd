#include "model/pdata/space_map.h"

#include <stdexcept>

#include "model/pdata/endian.h"
#include "model/pdata/error.h"

namespace thinsim::pdata {

void SmRoot::encode(std::byte* out) const {
  store_le64(out + 0, nr_blocks);
  store_le64(out + 8, nr_allocated);
  store_le64(out + 16, bitmap_root);
  store_le64(out + 24, ref_count_root);
}

SmRoot SmRoot::decode(const std::byte* in) {
  return SmRoot{load_le64(in + 0), load_le64(in + 8), load_le64(in + 16), load_le64(in + 24)};
}

void SpaceMap::register_threshold(block_t, std::function<void()>) {
  throw PdataError(EINVAL, "this space map has no threshold support");
}

}  // namespace thinsim::pdata
