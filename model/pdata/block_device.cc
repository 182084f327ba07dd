#include "model/pdata/block_device.h"

#include <stdexcept>
#include <string>

namespace thinsim::pdata {

void check_io_range(const char* op, uint64_t sector, size_t bytes, uint64_t nr_sectors) {
  if (bytes % 512 != 0)
    throw std::invalid_argument(std::string(op) + ": length " + std::to_string(bytes) +
                                " is not a multiple of 512");
  uint64_t n = bytes / 512;
  if (sector > nr_sectors || n > nr_sectors - sector)
    throw std::invalid_argument(std::string(op) + ": sectors [" + std::to_string(sector) + ", " +
                                std::to_string(sector + n) + ") beyond device end " +
                                std::to_string(nr_sectors));
}

}  // namespace thinsim::pdata
