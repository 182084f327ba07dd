#include "model/thin/run_coalescer.h"

#include <limits>
#include <stdexcept>

namespace thinsim::thin {

namespace {

// True when [begin, begin + length) does not extend past 2^64 (ending exactly at 2^64 is fine).
bool fits(uint64_t begin, uint64_t length) {
  return length - 1 <= std::numeric_limits<uint64_t>::max() - begin;
}

}  // namespace

void RunCoalescer::emit() {
  pending_ = false;
  out_.mapping(run_);
}

void RunCoalescer::start(uint64_t origin, uint64_t data, uint32_t time) {
  if (pending_) emit();
  run_.origin_begin = origin;
  run_.data_begin = data;
  run_.length = 1;
  run_.time = time;
  next_origin_ = origin + 1;
  next_data_ = data + 1;
  pending_ = true;
}

void RunCoalescer::add(const MappingRun& run) {
  if (run.length == 0) throw std::invalid_argument("RunCoalescer: run of length 0");
  if (!fits(run.origin_begin, run.length) || !fits(run.data_begin, run.length))
    throw std::invalid_argument("RunCoalescer: run extends past block 2^64-1");
  if (pending_ && run.origin_begin == next_origin_ && run.data_begin == next_data_ &&
      run.time == run_.time && next_origin_ != 0 && next_data_ != 0) {
    run_.length += run.length;
  } else {
    if (pending_) emit();
    run_ = run;
    pending_ = true;
  }
  next_origin_ = run_.origin_begin + run_.length;
  next_data_ = run_.data_begin + run_.length;
}

}  // namespace thinsim::thin
