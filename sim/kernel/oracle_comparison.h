// Compares the two sides of one oracle case: step by step the outcome (success, the
// errno of a failure, queued, the status or table line, whether an event was raised),
// the forced commits' status lines and the data every read returned; after the clean
// teardown the thin_dump of every metadata disk (data block numbers and times included),
// the data blocks those dumps map, and whether the metadata images are byte-identical.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "peer/peer_tools.h"
#include "sim/kernel/guest_script.h"
#include "sim/kernel/kernel_vm.h"
#include "sim/kernel/model_side.h"
#include "sim/kernel/oracle_case.h"

namespace thinsim::kernel {

struct Difference {
  size_t step = 0;      // index into OracleCase::run.commands (== size for the end state)
  std::string where;    // "file:line" or a description
  std::string command;  // the command's text
  std::string what;     // "outcome", "commit status", "read data", "thin_dump of meta", ...
  std::string kernel;
  std::string model;
};

struct CaseComparison {
  std::optional<Difference> difference;  // the first place the sides part
  size_t steps_compared = 0;
  bool metadata_identical = false;       // every metadata image byte-identical after teardown
  std::vector<std::string> files;        // images and dumps written to the case directory
};

// The kernel's output of a step, in the model's terms: errno names for error texts, dm
// names for device numbers, the case's guest prefix taken off.
std::string normalise_kernel_outcome(const std::string& outcome, size_t case_index,
                                     const std::map<std::string, std::string>& device_numbers);
// The errno name a dmctl/dd/blkdiscard error text ends in ("No data available" ->
// ENODATA); a missing device is ENXIO, as dm reports it.
std::string errno_from_text(const std::string& text);

// The data blocks a thin_dump XML text maps (single and range mappings), and its data
// block size in sectors (0 if it names none).
std::set<uint64_t> mapped_data_blocks(const std::string& xml, uint64_t& block_sectors);

struct KernelImages {
  std::string dir;  // holds disks.img and out.img
  const CaseLayout* layout = nullptr;
};

CaseComparison compare_case(const OracleCase& oc, size_t case_index, const KernelCaseResult& kernel,
                            const KernelImages& images, ModelSide& model, const peer::PeerTools& tools,
                            const std::string& case_dir);

}  // namespace thinsim::kernel
