#include "model/thin/value_types.h"

#include <cstring>

#include "model/pdata/endian.h"
#include "model/pdata/error.h"
#include "model/thin/block_time.h"

namespace thinsim::thin {

using namespace pdata;

namespace {

// Calls fn(begin, end) for each run of consecutive data blocks (the kernel's with_runs).
template <typename Fn>
void for_each_data_run(const std::byte* values, unsigned count, Fn&& fn) {
  if (count == 0) return;
  uint64_t begin = unpack_block_time(load_le64(values)).block, end = begin + 1;
  for (unsigned i = 1; i < count; ++i) {
    uint64_t b = unpack_block_time(load_le64(values + 8 * i)).block;
    if (b == end) {
      ++end;
    } else {
      fn(begin, end);
      begin = b;
      end = b + 1;
    }
  }
  fn(begin, end);
}

}  // namespace

void BlockTimeValueType::count_runs(const std::byte* values, unsigned count, const char* what,
                                    void (pdata::SpaceMap::*op)(block_t, block_t)) {
  for_each_data_run(values, count, [&](uint64_t b, uint64_t e) {
    try {
      (data_sm_.*op)(b, e);
    } catch (const PdataError& err) {
      if (!on_error_) throw;
      on_error_(std::string("data block ") + what + " failed (ignored): " + err.what());
    }
  });
}

void BlockTimeValueType::inc(const std::byte* values, unsigned count) {
  count_runs(values, count, "inc", &pdata::SpaceMap::inc_blocks);
}

void BlockTimeValueType::dec(const std::byte* values, unsigned count) {
  count_runs(values, count, "dec", &pdata::SpaceMap::dec_blocks);
}

bool BlockTimeValueType::equal(const std::byte* a, const std::byte* b) const {
  return unpack_block_time(load_le64(a)).block == unpack_block_time(load_le64(b)).block;
}

void SubtreeValueType::inc(const std::byte* values, unsigned count) {
  for (unsigned i = 0; i < count; ++i) bottom_.tm.inc(load_le64(values + 8 * i));
}

void SubtreeValueType::dec(const std::byte* values, unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    try {
      btree_del(bottom_, load_le64(values + 8 * i));
    } catch (const PdataError& e) {
      if (!on_error_) throw;
      on_error_(std::string("btree delete failed: ") + e.what());
    }
  }
}

bool SubtreeValueType::equal(const std::byte* a, const std::byte* b) const {
  return std::memcmp(a, b, 8) == 0;
}

}  // namespace thinsim::thin
