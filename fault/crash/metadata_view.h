// What a metadata image says, read with thinsim's own checker and dumper (never with the
// pool code under test): whether it is unformatted, passes the check, and its logical
// contents as a fingerprint (superblock fields, devices, every mapping with its time),
// plus the data blocks it maps, for the data oracles.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/pdata/block_device.h"

namespace thinsim::fault {

struct MappedDataRun {
  uint64_t data_begin = 0;
  uint64_t length = 0;
};

struct MetadataView {
  bool unformatted = false;       // block 0 all zeroes: the kernel formats a new pool
  bool check_passed = false;      // thinsim's checker found nothing
  std::string check_problem;      // the first problem when it did not pass
  // The check failed only because data blocks are counted as used that nothing maps
  // (leaked): the kernel opens such metadata, and leaves it so after a failed copy.
  bool only_data_leaks = false;
  // Wider: data blocks counted more often than they are mapped (check::only_data_excess).
  bool only_data_excess = false;
  std::string fingerprint;        // "unformatted", or a digest of the logical contents
  bool needs_check = false;
  uint32_t data_block_sectors = 0;
  uint64_t transaction_id = 0;
  std::vector<MappedDataRun> mapped;  // live devices' mappings, as data-block runs
  // Metadata blocks the committed superblock reaches (live trees, metadata snapshot,
  // space maps), when asked for.
  std::set<uint64_t> reachable;
};

struct MetadataViewOptions {
  bool reachable = false;  // collect the reachable block set (costs a second walk)
  bool dump_xml = false;   // fill xml (thin_dump's text, for difference reports)
};

MetadataView read_metadata_view(pdata::BlockDevice& dev, const MetadataViewOptions& options,
                                std::string* xml = nullptr);

}  // namespace thinsim::fault
