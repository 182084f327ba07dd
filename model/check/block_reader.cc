#include "model/check/block_reader.h"

#include <span>

#include "model/pdata/endian.h"
#include "model/pdata/error.h"
#include "model/pdata/geometry.h"

namespace thinsim::check {

using namespace pdata;

BlockReader::BlockReader(BlockDevice& dev)
    : dev_(dev), nr_blocks_(dev.nr_sectors() / kSectorsPerMetadataBlock) {}

bool BlockReader::read(uint64_t b, Block& out, std::string& error) {
  if (b >= nr_blocks_) {
    error = "beyond the end of the metadata device (" + std::to_string(nr_blocks_) + " blocks)";
    return false;
  }
  try {
    dev_.read(b * kSectorsPerMetadataBlock, std::span<std::byte>(out.data(), out.size()));
  } catch (const std::exception& e) {
    error = std::string("read failed: ") + e.what();
    return false;
  }
  if (++nr_reads_ % 256 == 0 && progress_) progress_(nr_reads_);
  return true;
}

bool BlockReader::read_validated(uint64_t b, BlockKind kind, Block& out, std::string& error) {
  if (!read(b, out, error)) return false;
  uint32_t stored = load_le32(out.data());
  uint32_t want = block_checksum(out.data(), kind);
  if (stored != want) {
    auto other = identify_block(out.data());
    if (other && *other != kind)
      error = "expected a " + std::string(block_kind_name(kind)) + " but found a " +
              std::string(block_kind_name(*other));
    else
      error = "bad checksum in " + std::string(block_kind_name(kind)) + " (stored " +
              std::to_string(stored) + ", computed " + std::to_string(want) + ")";
    return false;
  }
  uint64_t blocknr = load_le64(out.data() + 8);
  if (blocknr != b) {
    error = "blocknr mismatch: " + std::string(block_kind_name(kind)) + " claims to be block " +
            std::to_string(blocknr);
    return false;
  }
  return true;
}

}  // namespace thinsim::check
