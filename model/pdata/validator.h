// Block validators: each metadata block type checks its checksum and self-location on
// read and stamps them on write-out (dm_block_validator).
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/pdata/checksum.h"
#include "model/pdata/geometry.h"

namespace thinsim::pdata {

class Validator {
 public:
  virtual ~Validator() = default;
  virtual const char* name() const = 0;
  // Throws CorruptionError (ENOTBLK for a wrong self-location, EILSEQ otherwise).
  virtual void check(const std::byte* data, block_t location) const = 0;
  // Stamps blocknr and checksum just before the block is written out.
  virtual void prepare_for_write(std::byte* data, block_t location) const = 0;
};

// Blocks whose first 16 bytes are {csum, u32, blocknr}: btree nodes, bitmaps, the
// metadata index. Btree nodes add header checks in their own validator.
class ChecksumValidator : public Validator {
 public:
  ChecksumValidator(const char* name, BlockKind kind) : name_(name), kind_(kind) {}
  const char* name() const override { return name_; }
  void check(const std::byte* data, block_t location) const override;
  void prepare_for_write(std::byte* data, block_t location) const override;

 protected:
  void check_location(const std::byte* data, block_t location) const;
  void check_checksum(const std::byte* data, block_t location) const;

 private:
  const char* name_;
  BlockKind kind_;
};

const Validator& bitmap_validator();
const Validator& index_validator();

}  // namespace thinsim::pdata
