#include "model/pdata/validator.h"

#include <string>

#include "model/pdata/endian.h"
#include "model/pdata/error.h"

namespace thinsim::pdata {

void ChecksumValidator::check_location(const std::byte* data, block_t location) const {
  uint64_t stored = load_le64(data + 8);
  if (stored != location)
    throw CorruptionError(ENOTBLK, location,
                          std::string(name_) + " check failed for block " +
                              std::to_string(location) + ": blocknr " + std::to_string(stored) +
                              " != wanted " + std::to_string(location));
}

void ChecksumValidator::check_checksum(const std::byte* data, block_t location) const {
  uint32_t want = block_checksum(data, kind_);
  uint32_t stored = load_le32(data);
  if (want != stored)
    throw CorruptionError(EILSEQ, location,
                          std::string(name_) + " check failed for block " +
                              std::to_string(location) + ": checksum " + std::to_string(stored) +
                              " != wanted " + std::to_string(want));
}

void ChecksumValidator::check(const std::byte* data, block_t location) const {
  check_location(data, location);
  check_checksum(data, location);
}

void ChecksumValidator::prepare_for_write(std::byte* data, block_t location) const {
  store_le64(data + 8, location);
  store_le32(data, block_checksum(data, kind_));
}

const Validator& bitmap_validator() {
  static const ChecksumValidator v("sm_bitmap", BlockKind::bitmap);
  return v;
}

const Validator& index_validator() {
  static const ChecksumValidator v("index", BlockKind::metadata_index);
  return v;
}

}  // namespace thinsim::pdata
