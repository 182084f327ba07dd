// thinsim dump: thin_dump's job; the XML is byte-identical to thin_dump 0.9.0's.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/whole_number.h"
#include "cli/exit_codes.h"
#include "cli/output_file.h"
#include "cli/progress.h"
#include "model/pdata/error.h"
#include "model/pdata/file_block_device.h"
#include "model/thin/metadata_dumper.h"
#include "model/thin/xml_writer.h"

namespace thinsim::cli {
namespace {

struct DumpArgs {
  std::string metadata;
  std::optional<std::string> output;
  bool force = false;
  bool metadata_snap = false;
  std::optional<uint64_t> snap_location;
  bool skip_mappings = false;
  std::vector<uint64_t> dev_ids;
  std::string format = "xml";
};

int run_dump(const DumpArgs& a) {
  if (a.format != "xml") {
    std::fprintf(stderr, "thinsim dump: unknown format '%s' (supported: xml)\n", a.format.c_str());
    return kExitUsage;
  }
  thin::DumpOptions o;
  o.metadata_snap = a.metadata_snap || a.snap_location.has_value();
  o.snap_location = a.snap_location;
  o.skip_mappings = a.skip_mappings;
  o.dev_ids.insert(a.dev_ids.begin(), a.dev_ids.end());
  try {
    pdata::FileBlockDevice dev(a.metadata, pdata::FileBlockDevice::Mode::read_only);
    OutputFile out(a.output, a.force);
    thin::XmlWriter writer(out.fd(), out.name());
    // With the XML going to stdout, a terminal shows that instead.
    Progress progress("dumping " + a.metadata, 0, !a.output.has_value());
    o.progress = [&](uint64_t done, uint64_t total) {
      progress.set_total(total);
      progress.update(done);
    };
    thin::dump_metadata(dev, o, writer);
    progress.finish();
    writer.flush();
    out.commit();
  } catch (const thin::DumpError& e) {
    std::fprintf(stderr, "thinsim dump: %s: %s\n", a.metadata.c_str(), e.what());
    return kExitMetadataBad;
  } catch (const pdata::IoError& e) {
    std::fprintf(stderr, "thinsim dump: %s\n", e.what());
    return kExitEnvironment;
  } catch (const OutputError& e) {
    std::fprintf(stderr, "thinsim dump: %s\n", e.what());
    return kExitEnvironment;
  } catch (const std::runtime_error& e) {
    // XmlWriter reports failed writes (a full disk, a closed pipe) this way.
    std::fprintf(stderr, "thinsim dump: %s\n", e.what());
    return kExitEnvironment;
  }
  return kExitOk;
}

}  // namespace

void add_dump_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App* cmd = app.add_subcommand("dump", "Dump dm-thin metadata as XML (like thin_dump)");
  cmd->add_option("metadata", args->metadata, "Metadata device or file")->required();
  cmd->add_option("-o,--output", args->output, "Write to this file instead of stdout");
  cmd->add_flag("--force", args->force, "Overwrite the output file if it exists");
  cmd->add_option("-f,--format", args->format, "Output format (xml)");
  auto* snap = cmd->add_option("-m,--metadata-snap", args->snap_location,
                               "Dump the metadata snapshot (at BLOCK, default: the held root)");
  snap->expected(0, 1);
  snap->default_str("");
  cmd->add_option("--dev-id", args->dev_ids, "Dump only this device (repeatable)")->check(whole_number());
  cmd->add_flag("--skip-mappings", args->skip_mappings, "Dump devices without their mappings");
  cmd->callback([args, snap, &exit_code] {
    args->metadata_snap = snap->count() > 0;
    exit_code = run_dump(*args);
  });
}

}  // namespace thinsim::cli
