// thinsim check: thin_check's job, with its flags and exit codes.
#include <cstdio>
#include <cstring>
#include <span>
#include <string>

#include "cli/commands.h"
#include "cli/whole_number.h"
#include "cli/exit_codes.h"
#include "cli/progress.h"
#include "model/check/metadata_checker.h"
#include "model/pdata/checksum.h"
#include "model/pdata/endian.h"
#include "model/pdata/error.h"
#include "model/pdata/file_block_device.h"
#include "model/thin/format.h"
#include "model/thin/superblock.h"

namespace thinsim::cli {
namespace {

struct CheckArgs {
  std::string metadata;
  bool quiet = false;
  bool super_block_only = false;
  bool skip_mappings = false;
  bool metadata_snap = false;
  bool ignore_non_fatal = false;
  bool clear_needs_check = false;
  std::optional<uint64_t> override_mapping_root;
  std::optional<uint64_t> override_details_root;
};

const char* label(check::Severity s) {
  switch (s) {
    case check::Severity::fatal: return "error";
    case check::Severity::non_fatal: return "warning";
    case check::Severity::note: return "note";
  }
  return "?";
}

void clear_needs_check_flag(const std::string& path) {
  pdata::FileBlockDevice dev(path, pdata::FileBlockDevice::Mode::read_write);
  check::clear_needs_check_flag(dev);
}

int run_check(const CheckArgs& a) {
  check::CheckOptions o;
  o.super_block_only = a.super_block_only;
  o.skip_mappings = a.skip_mappings;
  o.metadata_snap = a.metadata_snap;
  o.override_mapping_root = a.override_mapping_root;
  o.override_details_root = a.override_details_root;

  check::CheckResult r;
  try {
    pdata::FileBlockDevice dev(a.metadata, pdata::FileBlockDevice::Mode::read_only);
    Progress progress("checking " + a.metadata, 0, a.quiet);
    o.progress = [&](uint64_t done, uint64_t total) {
      progress.set_total(total);
      progress.update(done);
    };
    r = check::check_metadata(dev, o);
    progress.finish();
  } catch (const pdata::IoError& e) {
    std::fprintf(stderr, "thinsim check: %s\n", e.what());
    return kExitEnvironment;
  }

  if (!a.quiet) {
    for (const auto& f : r.findings.list())
      std::fprintf(stderr, "%s: %s\n", label(f.severity), f.to_string().c_str());
    if (r.findings.nr_dropped())
      std::fprintf(stderr, "... and %llu more problems not listed\n",
                   static_cast<unsigned long long>(r.findings.nr_dropped()));
    if (r.looks_like_xml)
      std::fprintf(stderr,
                   "This looks like XML.  thinsim check only checks the binary metadata format.\n");
    if (r.superblock_ok && r.superblock) {
      std::printf("TRANSACTION_ID=%llu\n", static_cast<unsigned long long>(r.superblock->trans_id));
      if (r.metadata_free_blocks)
        std::printf("METADATA_FREE_BLOCKS=%llu\n",
                    static_cast<unsigned long long>(*r.metadata_free_blocks));
    }
    std::fflush(stdout);
  }

  bool passed = r.passed(a.ignore_non_fatal);
  if (!passed) {
    if (!a.quiet)
      std::fprintf(stderr, "%s: %llu fatal and %llu non-fatal problems\n", a.metadata.c_str(),
                   static_cast<unsigned long long>(r.findings.nr_fatal()),
                   static_cast<unsigned long long>(r.findings.nr_non_fatal()));
    return kExitMetadataBad;
  }

  if (a.clear_needs_check) {
    // Like thin_check, only a check that found nothing at all may clear the flag.
    if (!r.findings.clean() || a.super_block_only || a.skip_mappings || a.metadata_snap) {
      if (!a.quiet) std::fprintf(stderr, "metadata has not been fully examined\n");
      return kExitMetadataBad;
    }
    if (r.superblock->needs_check()) {
      try {
        clear_needs_check_flag(a.metadata);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "thinsim check: cannot clear the needs_check flag: %s\n", e.what());
        return kExitEnvironment;
      }
      if (!a.quiet) std::fprintf(stderr, "cleared needs_check flag\n");
    }
  }
  return kExitOk;
}

}  // namespace

void add_check_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = app.add_subcommand("check", "Check dm-thin metadata (like thin_check)");
  cmd->add_option("metadata", args->metadata, "Metadata device or file")->required();
  cmd->add_flag("-q,--quiet", args->quiet, "Print nothing; report through the exit code only");
  cmd->add_flag("--super-block-only", args->super_block_only, "Only check the superblock");
  cmd->add_flag("--skip-mappings", args->skip_mappings,
                "Do not walk the per-device mapping trees (nor compare space maps)");
  cmd->add_flag("-m,--metadata-snap", args->metadata_snap,
                "Check the metadata snapshot instead of the live metadata");
  cmd->add_flag("--ignore-non-fatal-errors", args->ignore_non_fatal,
                "Pass despite non-fatal problems such as leaked blocks");
  cmd->add_flag("--clear-needs-check-flag", args->clear_needs_check,
                "Clear the NEEDS_CHECK flag if the check finds nothing");
  cmd->add_option("--override-mapping-root", args->override_mapping_root,
                  "Check this block as the mapping tree root")
      ->check(whole_number());
  cmd->add_option("--override-details-root", args->override_details_root,
                  "Check this block as the device details root")
      ->check(whole_number());
  cmd->callback([args, &exit_code] { exit_code = run_check(*args); });
}

}  // namespace thinsim::cli
