// thinsim restore: thin_restore's job. Metadata is built through the kernel-faithful
// pool metadata model, streaming the XML.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/output_file.h"
#include "cli/progress.h"
#include "model/pdata/error.h"
#include "model/pdata/file_block_device.h"
#include "model/pdata/space_map_bitmap.h"
#include "model/thin/format.h"
#include "model/thin/metadata_restorer.h"
#include "model/thin/xml_pipeline.h"
#include "model/thin/xml_reader.h"

namespace thinsim::cli {
namespace {

constexpr uint64_t kDefaultMetadataSize = uint64_t(1) << 30;  // 1 GiB, created sparse
constexpr uint64_t kMaxMetadataSize = thin::kMetadataMaxBlocks * 4096;

// Reads just the XML's superblock element (if the file starts well enough to have one).
std::optional<thin::SuperblockInfo> peek_superblock(const std::string& path) {
  struct Stop {};
  struct Peek final : thin::MetadataVisitor {
    std::optional<thin::SuperblockInfo> sb;
    void begin_superblock(const thin::SuperblockInfo& s) override {
      sb = s;
      throw Stop{};
    }
    void end_superblock() override {}
    void begin_device(const thin::DeviceInfo&) override {}
    void end_device() override {}
    void mapping(const thin::MappingRun&) override {}
  } peek;
  thin::XmlReadOptions o;
  o.locate_visitor_errors = false;
  try {
    thin::read_thin_xml(path, peek, o);
  } catch (const Stop&) {
  } catch (const std::exception&) {
    // The real parse reports it properly.
  }
  return peek.sb;
}

// A new file's default size: 1 GiB, or room for the data space map's bitmaps twice over
// plus 256 MiB when the data device is very large, within the metadata maximum.
uint64_t default_metadata_size(const std::string& xml) {
  auto sb = peek_superblock(xml);
  if (!sb) return kDefaultMetadataSize;
  uint64_t bitmaps = (sb->nr_data_blocks + pdata::kEntriesPerBitmap - 1) / pdata::kEntriesPerBitmap;
  uint64_t want = 2 * bitmaps * 4096 + (uint64_t(256) << 20);
  return std::min(std::max(want, kDefaultMetadataSize), kMaxMetadataSize);
}

struct RestoreArgs {
  std::string input;
  std::string output;
  bool force = false;
  bool quiet = false;
  std::string metadata_size;
};

// "4096", "64K", "512M", "1G", "1GiB": bytes with binary units.
std::optional<uint64_t> parse_size(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return std::nullopt;
  std::string unit(p, s.data() + s.size());
  unsigned shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "MiB" || unit == "m") shift = 20;
  else if (unit == "G" || unit == "GiB" || unit == "g") shift = 30;
  else if (unit == "T" || unit == "TiB" || unit == "t") shift = 40;
  else return std::nullopt;
  if (shift && v > (~uint64_t(0) >> shift)) return std::nullopt;
  return v << shift;
}

bool block0_is_zero(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  std::array<char, 4096> buf{};
  ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
  ::close(fd);
  for (ssize_t i = 0; i < n; ++i)
    if (buf[static_cast<size_t>(i)]) return false;
  return true;
}

// Prepares the output: creates it (sparse) when missing or empty. Returns whether this
// run created it.
bool prepare_output(const RestoreArgs& a, uint64_t size) {
  struct stat st {};
  if (::stat(a.output.c_str(), &st) != 0) {
    if (errno != ENOENT)
      throw OutputError(a.output + ": cannot stat: " + std::strerror(errno));
    int fd = ::open(a.output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) throw OutputError(a.output + ": cannot create: " + std::strerror(errno));
    int r = ::ftruncate(fd, static_cast<off_t>(size));
    int err = errno;
    ::close(fd);
    if (r != 0) {
      ::unlink(a.output.c_str());
      throw OutputError(a.output + ": cannot size to " + std::to_string(size) + " bytes: " +
                        std::strerror(err));
    }
    return true;
  }
  if (S_ISREG(st.st_mode) && st.st_size == 0) {
    if (::truncate(a.output.c_str(), static_cast<off_t>(size)) != 0)
      throw OutputError(a.output + ": cannot size to " + std::to_string(size) + " bytes: " +
                        std::strerror(errno));
    return false;
  }
  if (!a.force && !block0_is_zero(a.output))
    throw OutputError(a.output +
                      ": already holds data in its first block (use --force to overwrite it)");
  return false;
}

// Leaves a failed output recognisably unformatted (or removes it if we created it).
void discard_output(const std::string& path, bool created) {
  if (created) {
    ::unlink(path.c_str());
    return;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::array<char, 4096> zero{};
  if (::pwrite(fd, zero.data(), zero.size(), 0) == static_cast<ssize_t>(zero.size())) ::fsync(fd);
  ::close(fd);
}

int run_restore(const RestoreArgs& a) {
  uint64_t size = 0;
  if (!a.metadata_size.empty()) {
    auto s = parse_size(a.metadata_size);
    if (!s || *s < 2 * 4096) {
      std::fprintf(stderr, "thinsim restore: --metadata-size '%s' is not a size of at least 8K\n",
                   a.metadata_size.c_str());
      return kExitUsage;
    }
    size = *s;
  }
  int in_fd = ::open(a.input.c_str(), O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) {
    std::fprintf(stderr, "thinsim restore: %s: cannot open: %s\n", a.input.c_str(),
                 std::strerror(errno));
    return kExitEnvironment;
  }
  struct stat st {};
  ::fstat(in_fd, &st);
  if (!size) size = default_metadata_size(a.input);

  bool created = false;
  try {
    created = prepare_output(a, size);
  } catch (const OutputError& e) {
    ::close(in_fd);
    std::fprintf(stderr, "thinsim restore: %s\n", e.what());
    return kExitEnvironment;
  }

  int rc = kExitOk;
  std::string error;
  try {
    pdata::FileBlockDevice dev(a.output, pdata::FileBlockDevice::Mode::read_write);
    thin::MetadataRestorer restorer(dev);
    Progress progress("restoring " + a.input, static_cast<uint64_t>(st.st_size), a.quiet);
    thin::XmlReadOptions xo;
    xo.progress = [&](uint64_t bytes) { progress.update(bytes); };
    thin::read_thin_xml_pipelined(a.input, restorer, xo);
    progress.finish();
  } catch (const thin::XmlError& e) {
    rc = kExitBadInput;
    error = e.what();
    // A visitor error keeps its own class inside; out-of-space is the device's fault.
    try {
      std::rethrow_if_nested(e);
    } catch (const pdata::NoSpaceError& inner) {
      rc = kExitEnvironment;
      error += " (the metadata device is too small; restore to a larger one or pass a larger "
               "--metadata-size)";
    } catch (const pdata::IoError&) {
      rc = kExitEnvironment;
    } catch (...) {
    }
  } catch (const pdata::NoSpaceError& e) {
    rc = kExitEnvironment;
    error = std::string(e.what()) + " (the metadata device is too small)";
  } catch (const pdata::IoError& e) {
    rc = kExitEnvironment;
    error = e.what();
  } catch (const thin::RestoreError& e) {
    rc = kExitBadInput;
    error = e.what();
  }
  ::close(in_fd);
  if (rc != kExitOk) {
    std::fprintf(stderr, "thinsim restore: %s\n", error.c_str());
    discard_output(a.output, created);
  }
  return rc;
}

}  // namespace

void add_restore_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = app.add_subcommand("restore", "Restore dm-thin metadata from XML (like thin_restore)");
  cmd->add_option("-i,--input", args->input, "XML file to restore")->required();
  cmd->add_option("-o,--output", args->output,
                  "Metadata device or file (created, sparse, if missing)")->required();
  cmd->add_flag("--force", args->force, "Overwrite an output that already holds data");
  cmd->add_flag("-q,--quiet", args->quiet, "No progress output");
  cmd->add_option("--metadata-size", args->metadata_size,
                  "Size of a newly created output file (default 1G, more for very large data "
                  "devices; units K, M, G, T)");
  cmd->callback([args, &exit_code] { exit_code = run_restore(*args); });
}

}  // namespace thinsim::cli
