#include "harness/peer_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "harness/dump_comparison.h"
#include "model/check/metadata_checker.h"
#include "model/pdata/file_block_device.h"
#include "model/thin/metadata_dumper.h"
#include "model/thin/superblock.h"
#include "model/thin/xml_writer.h"

namespace thinsim::harness {

namespace {

constexpr uint64_t kPageSectors = 8;  // 4 KiB, the metadata block size
constexpr size_t kMaxDumpBytes = size_t{256} << 20;

std::string first_lines(const std::string& text, size_t n = 6) {
  std::string out;
  size_t pos = 0;
  for (size_t i = 0; i < n && pos < text.size(); ++i) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out += (i ? " | " : "") + text.substr(pos, end - pos);
    pos = end + 1;
  }
  return out;
}

// Where two texts first differ, as "line L: A ≠ B".
std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const size_t line_start = a.rfind('\n', i ? i - 1 : 0);
  const size_t from = (line_start == std::string::npos || i == 0) ? 0 : line_start + 1;
  size_t line = 1;
  for (size_t k = 0; k < from; ++k) line += a[k] == '\n';
  auto line_at = [&](const std::string& s) {
    if (from >= s.size()) return std::string("(end of output)");
    return s.substr(from, s.find('\n', from) - from);
  };
  return "line " + std::to_string(line) + ": thin_dump has \"" + line_at(a) + "\", thinsim has \"" +
         line_at(b) + "\"";
}

std::string thinsim_dump(const std::string& image, bool metadata_snap) {
  pdata::FileBlockDevice dev(image, pdata::FileBlockDevice::Mode::read_only);
  std::string xml;
  thin::XmlWriter writer(xml);
  thin::DumpOptions o;
  o.metadata_snap = metadata_snap;
  thin::dump_metadata(dev, o, writer);
  return xml;
}

}  // namespace

PeerCheck::PeerCheck(DmCore& dm, peer::PeerTools tools, std::string work_dir, ReferenceLookup reference)
    : dm_(dm), tools_(std::move(tools)), work_dir_(std::move(work_dir)), reference_(std::move(reference)) {
  dm_.add_disk_tap(*this);
}

PeerCheck::~PeerCheck() { dm_.remove_disk_tap(*this); }

std::string PeerCheck::image_path(const std::string& disk) const { return work_dir_ + "/" + disk + ".img"; }

void PeerCheck::before_step(const Command& cmd, DmCore&) {
  auto watch = [&](const TableLine& t) {
    if (t.target != "thin-pool" || t.args.empty()) return;
    auto it = disk_fill_.find(t.args[0]);
    if (it == disk_fill_.end()) return;  // not a disk: the pool will refuse the table
    watched_.try_emplace(t.args[0]).first->second.filled = it->second;
  };
  switch (cmd.kind()) {
    case CommandKind::disk: {
      const auto& c = cmd.as<DiskCmd>();
      disk_fill_.try_emplace(c.name, c.fill != ContentPattern::zero());
      break;
    }
    case CommandKind::create: watch(cmd.as<CreateCmd>().table); break;
    case CommandKind::reload: watch(cmd.as<ReloadCmd>().table); break;
    default: break;
  }
}

void PeerCheck::written(const std::string& disk, uint64_t sector, uint64_t nr_sectors, bool) {
  auto it = watched_.find(disk);
  if (it == watched_.end() || nr_sectors == 0) return;
  for (uint64_t p = sector / kPageSectors; p <= (sector + nr_sectors - 1) / kPageSectors; ++p)
    it->second.dirty.insert(p);
  if (sector < kPageSectors) it->second.superblock_written = true;
}

void PeerCheck::discarded(const std::string& disk, uint64_t sector, uint64_t nr_sectors) {
  auto it = watched_.find(disk);
  if (it == watched_.end() || nr_sectors == 0) return;
  for (uint64_t p = sector / kPageSectors; p <= (sector + nr_sectors - 1) / kPageSectors; ++p)
    it->second.dirty.insert(p);
}

void PeerCheck::flushed(const std::string& disk) {
  auto it = watched_.find(disk);
  if (it == watched_.end() || !it->second.superblock_written) return;
  it->second.superblock_written = false;
  if (problem_) return;  // the run stops at the first problem; later commits are moot
  try {
    problem_ = check_commit(disk, it->second);
  } catch (const std::exception& e) {
    problem_ = "check-peer: commit " + std::to_string(it->second.commits) + " of " + disk + ": " + e.what();
  }
}

// The image file mirrors the disk: pages written since the last commit are copied in.
void PeerCheck::update_image(const std::string& disk, Watched& w) {
  pdata::BlockDevice* dev = dm_.disk(disk);
  if (!dev) throw std::runtime_error("no disk " + disk);
  const std::string path = image_path(disk);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  auto fail = [&](const char* what) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string(what) + " " + path + ": " + std::strerror(e));
  };
  const uint64_t sectors = dev->nr_sectors();
  if (::ftruncate(fd, static_cast<off_t>(sectors * 512)) != 0) fail("cannot size");
  std::vector<std::byte> page(kPageSectors * 512);
  auto copy = [&](uint64_t p) {
    const uint64_t s = p * kPageSectors;
    if (s >= sectors) return;
    const uint64_t n = std::min(kPageSectors, sectors - s);
    std::span<std::byte> buf(page.data(), n * 512);
    dev->read(s, buf);
    if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(s * 512)) != static_cast<ssize_t>(buf.size()))
      fail("cannot write");
  };
  if (!w.copied && w.filled) {
    for (uint64_t p = 0; p * kPageSectors < sectors; ++p) copy(p);
  } else {
    for (uint64_t p : w.dirty) copy(p);
  }
  w.copied = true;
  w.dirty.clear();
  ::close(fd);
}

std::string PeerCheck::keep(const std::string& disk, const Watched& w, const std::string& what,
                            const std::string& text) const {
  const std::string base = work_dir_ + "/" + disk + "-commit" + std::to_string(w.commits);
  std::filesystem::copy_file(image_path(disk), base + ".img",
                             std::filesystem::copy_options::overwrite_existing);
  const std::string path = base + "-" + what;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::optional<std::string> PeerCheck::check_commit(const std::string& disk, Watched& w) {
  ++w.commits;
  update_image(disk, w);
  const std::string image = image_path(disk);
  const std::string at = "commit " + std::to_string(w.commits) + " of " + disk;

  peer::RunOptions ro;
  ro.timeout = std::chrono::seconds(120);
  peer::CommandResult c = peer::run_command({tools_.thin_check, image}, ro);
  if (!c.ok()) {
    const std::string kept = keep(disk, w, "thin_check.txt", c.out + c.err);
    return at + ": thin_check rejects the metadata (" + c.status() + "): " + first_lines(c.out + c.err) +
           " [image: " + work_dir_ + "/" + disk + "-commit" + std::to_string(w.commits) +
           ".img, output: " + kept + "]";
  }
  {
    pdata::FileBlockDevice dev(image, pdata::FileBlockDevice::Mode::read_only);
    check::CheckResult own = check::check_metadata(dev, {});
    if (!own.passed(false) && check::only_data_leaks(own)) {
      notes_.push_back(at + ": thinsim check finds leaked data blocks, which thin_check 0.9.0 does not look for: " +
                       own.findings.list().front().to_string());
    } else if (!own.passed(false)) {
      std::string found;
      for (const auto& f : own.findings.list()) found += f.to_string() + "\n";
      const std::string kept = keep(disk, w, "thinsim_check.txt", found);
      return at + ": thin_check accepts the metadata, thinsim check does not: " + first_lines(found, 3) +
             " [output: " + kept + "]";
    }
  }
  if (auto d = compare_dumps(disk, w, false)) return at + ": " + *d;
  pdata::FileBlockDevice dev(image, pdata::FileBlockDevice::Mode::read_only);
  std::vector<std::byte> sb(4096);
  dev.read(0, sb);
  if (thin::Superblock::decode(sb.data()).held_root != 0)
    if (auto d = compare_dumps(disk, w, true)) return at + " (metadata snapshot): " + *d;
  ++commits_checked_;
  return std::nullopt;
}

std::optional<std::string> PeerCheck::compare_dumps(const std::string& disk, Watched& w, bool metadata_snap) {
  const std::string image = image_path(disk);
  std::vector<std::string> argv = {tools_.thin_dump};
  if (metadata_snap) argv.push_back("-m");
  argv.push_back(image);
  peer::RunOptions ro;
  ro.timeout = std::chrono::seconds(120);
  ro.max_capture = kMaxDumpBytes;
  peer::CommandResult c = peer::run_command(argv, ro);
  if (!c.ok()) {
    const std::string kept = keep(disk, w, "thin_dump.txt", c.out + c.err);
    return "thin_dump fails (" + c.status() + "): " + first_lines(c.err) + " [output: " + kept + "]";
  }
  const std::string own = thinsim_dump(image, metadata_snap);
  if (own != c.out) {
    const std::string suffix = metadata_snap ? "-m" : "";
    const std::string peer_file = keep(disk, w, "thin_dump" + suffix + ".xml", c.out);
    const std::string own_file = keep(disk, w, "thinsim_dump" + suffix + ".xml", own);
    return "thinsim dump differs from thin_dump, " + first_difference(c.out, own) + " [" + peer_file +
           " vs " + own_file + "]";
  }
  if (!metadata_snap) {
    w.dump = std::move(c.out);
    w.dump_is_new = true;
  }
  return std::nullopt;
}

bool PeerCheck::pool_is_live(const std::string& disk, DmCore& dm) const {
  pdata::BlockDevice* dev = dm.disk(disk);
  for (pool::Pool* p : dm.pools())
    if (&p->metadata_dev() == dev) return p->mode() != pool::PoolMode::fail;
  return false;
}

std::optional<std::string> PeerCheck::after_step(const Command&, const StepOutcome&, DmCore& dm) {
  if (problem_) return problem_;
  if (!reference_) return std::nullopt;
  for (auto& [disk, w] : watched_) {
    if (!w.dump_is_new) continue;
    w.dump_is_new = false;
    // A pool that is gone or failed: what the reference last committed is not kept in
    // step with the disk (the pool's final commit on removal, say).
    const ref::RefPool* r = pool_is_live(disk, dm) ? reference_(disk) : nullptr;
    if (!r) continue;
    ++model_comparisons_;
    if (auto d = compare_dump_with_reference(w.dump, *r)) {
      const std::string kept = keep(disk, w, "thin_dump.xml", w.dump);
      return "check-peer: commit " + std::to_string(w.commits) + " of " + disk +
             ": the dump disagrees with the reference model: " + *d + " [" + kept + "]";
    }
  }
  return std::nullopt;
}

}  // namespace thinsim::harness
