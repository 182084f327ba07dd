#include "model/check/metadata_checker.h"

#include <array>
#include <cstring>
#include <span>
#include <string>

#include "model/check/space_map_checker.h"
#include "model/check/tree_walker.h"
#include "model/pdata/checksum.h"
#include "model/pdata/endian.h"
#include "model/thin/block_time.h"
#include "model/thin/format.h"

namespace thinsim::check {

using namespace pdata;
using thin::Superblock;

namespace {

class Checker {
 public:
  Checker(BlockDevice& dev, const CheckOptions& opts, CheckResult& result)
      : reader_(dev), opts_(opts), result_(result), f_(result.findings),
        refs_(reader_.nr_blocks()), walker_(reader_, refs_, f_) {}

  void run();

 private:
  bool read_superblock(uint64_t location, Superblock& sb);
  bool check_superblock_fields(uint64_t location, const Superblock& sb);
  // Walks details and mappings of one superblock's trees.
  void check_trees(const Superblock& sb, uint64_t location, bool is_snapshot);
  void check_space_maps(const Superblock& sb);

  BlockReader reader_;
  const CheckOptions& opts_;
  CheckResult& result_;
  Findings& f_;
  MetadataRefs refs_;
  TreeWalker walker_;
  std::optional<DataRefs> data_refs_;
  uint64_t nr_data_blocks_ = 0;
  bool trees_ok_ = true;
};

bool Checker::read_superblock(uint64_t location, Superblock& sb) {
  const std::string where = location == 0 ? "superblock" : "metadata snapshot superblock";
  if (refs_.size() == 0) {
    f_.fatal(std::nullopt, "metadata device",
             "smaller than one 4096-byte metadata block, so it holds no superblock");
    return false;
  }
  if (location >= refs_.size()) {
    f_.fatal(location, where, "superblock location is beyond the end of the metadata device (" +
                                  std::to_string(refs_.size()) + " blocks)");
    return false;
  }
  Block buf;
  std::string error;
  if (!reader_.read(location, buf, error)) {
    f_.fatal(location, where, error);
    return false;
  }
  if (location == 0) {
    static constexpr char kXml[] = "<superblock";
    const char* p = reinterpret_cast<const char*>(buf.data());
    size_t i = 0;
    while (i < 64 && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r')) i++;
    if (std::memcmp(p + i, kXml, sizeof kXml - 1) == 0 || std::memcmp(p, "<?xml", 5) == 0)
      result_.looks_like_xml = true;
  }
  refs_.add(location);
  if (BlockRole other = refs_.claim(location, BlockRole::superblock); other != BlockRole::none) {
    f_.fatal(location, where, std::string("block is used both as a superblock and as a ") +
                                  role_name(other));
    return false;
  }
  sb = Superblock::decode(buf.data());
  if (sb.magic != thin::kSuperblockMagic) {
    bool zero = std::all_of(buf.begin(), buf.end(), [](std::byte b) { return b == std::byte{0}; });
    f_.fatal(location, where, zero ? "superblock is all zeroes (unformatted metadata)"
                                   : "bad magic " + std::to_string(sb.magic) + ", expected " +
                                         std::to_string(thin::kSuperblockMagic));
    return false;
  }
  if (!reader_.read_validated(location, BlockKind::superblock, buf, error)) {
    f_.fatal(location, where, error);
    return false;
  }
  return check_superblock_fields(location, sb);
}

bool Checker::check_superblock_fields(uint64_t location, const Superblock& sb) {
  const std::string where = location == 0 ? "superblock" : "metadata snapshot superblock";
  bool ok = true;
  auto bad = [&](const std::string& what) {
    f_.fatal(location, where, what);
    ok = false;
  };
  if (sb.version != 1 && sb.version != 2)
    bad("unknown metadata version " + std::to_string(sb.version) + " (expected 1 or 2)");
  if (sb.metadata_block_size != thin::kMetadataBlockSectors)
    bad("metadata block size is " + std::to_string(sb.metadata_block_size) +
        " sectors, expected " + std::to_string(thin::kMetadataBlockSectors));
  if (!thin::valid_data_block_size(sb.data_block_size))
    bad("invalid data block size " + std::to_string(sb.data_block_size) +
        " sectors (must be a multiple of 128 between 128 and 2097152)");
  if (sb.incompat_flags)
    bad("unsupported incompatible feature flags " + std::to_string(sb.incompat_flags));
  if (sb.compat_ro_flags)
    bad("unsupported read-only-compatible feature flags " + std::to_string(sb.compat_ro_flags));
  if (sb.flags & ~thin::kNeedsCheckFlag)
    f_.non_fatal(location, where, "unknown superblock flags " + std::to_string(sb.flags));
  auto root_in_range = [&](uint64_t root, const char* name) {
    if (root >= refs_.size())
      bad(std::string(name) + " " + std::to_string(root) +
          " is beyond the end of the metadata device (" + std::to_string(refs_.size()) +
          " blocks)");
  };
  root_in_range(sb.data_mapping_root, "data mapping root");
  root_in_range(sb.device_details_root, "device details root");
  if (location == 0 && sb.held_root) root_in_range(sb.held_root, "metadata snapshot location");
  return ok;
}

void Checker::check_trees(const Superblock& sb, uint64_t location, bool is_snapshot) {
  const std::string prefix = is_snapshot ? "metadata snapshot " : "";
  uint64_t details_root = sb.device_details_root, mapping_root = sb.data_mapping_root;
  if (!is_snapshot || opts_.metadata_snap) {
    if (opts_.override_details_root) details_root = *opts_.override_details_root;
    if (opts_.override_mapping_root) mapping_root = *opts_.override_mapping_root;
  }
  (void)location;

  std::map<uint64_t, thin::DeviceDetails> devices;
  const std::string details_where = prefix + "device details tree";
  WalkResult dr = walker_.walk(details_root, TreeSpec{TreeKind::device_details, 24}, details_where,
                               [&](uint64_t, ConstNode leaf) {
                                 for (uint32_t i = 0; i < leaf.nr_entries(); ++i)
                                   devices[leaf.key(i)] =
                                       thin::DeviceDetails::decode(leaf.value_ptr(i));
                               });
  trees_ok_ = trees_ok_ && dr.ok;

  std::map<uint64_t, uint64_t> subtrees;  // device -> root of its mappings
  const std::string top_where = prefix + "mapping tree (top level)";
  WalkResult tr = walker_.walk(mapping_root, TreeSpec{TreeKind::mapping_top, 8}, top_where,
                               [&](uint64_t, ConstNode leaf) {
                                 for (uint32_t i = 0; i < leaf.nr_entries(); ++i)
                                   subtrees[leaf.key(i)] = leaf.value64(i);
                               });
  trees_ok_ = trees_ok_ && tr.ok;

  if (!is_snapshot) result_.nr_devices = devices.size();
  if (dr.ok && tr.ok) {
    for (auto& [dev, d] : devices)
      if (!subtrees.count(dev))
        f_.fatal(std::nullopt, top_where, "missing all mappings for device " + std::to_string(dev));
    for (auto& [dev, root] : subtrees)
      if (!devices.count(dev))
        f_.fatal(root, top_where, "mappings present for device " + std::to_string(dev) +
                                      ", but it isn't present in the device details tree");
  }
  for (auto& [dev, d] : devices)
    if (dev > thin::kMaxDeviceId)
      f_.non_fatal(std::nullopt, details_where,
                   "device id " + std::to_string(dev) +
                       " is above 2^24 - 1: the kernel cannot activate it");
  for (auto& [dev, d] : devices)
    if (d.snapshotted_time < d.creation_time)
      f_.note(std::nullopt, details_where,
                   "device " + std::to_string(dev) + " was snapshotted (time " +
                       std::to_string(d.snapshotted_time) + ") before it was created (time " +
                       std::to_string(d.creation_time) + ")");

  if (opts_.skip_mappings) return;

  for (auto& [dev, root] : subtrees) {
    std::string where = prefix + "mappings of device " + std::to_string(dev);
    uint64_t bad_blocks = 0;
    std::optional<uint64_t> first_bad;
    WalkResult r = walker_.walk(
        root, TreeSpec{TreeKind::mapping_bottom, 8}, where, [&](uint64_t block, ConstNode leaf) {
          for (uint32_t i = 0; i < leaf.nr_entries(); ++i) {
            thin::BlockTime bt = thin::unpack_block_time(leaf.value64(i));
            if (bt.block >= nr_data_blocks_) {
              if (!bad_blocks++) first_bad = block;
              continue;
            }
            if (data_refs_) data_refs_->inc(bt.block);
          }
        });
    if (bad_blocks && data_refs_)
      f_.fatal(first_bad, where,
               std::to_string(bad_blocks) + " mappings point beyond the data device (" +
                   std::to_string(nr_data_blocks_) + " blocks)");
    trees_ok_ = trees_ok_ && r.ok;
    if (!is_snapshot) result_.nr_mappings += r.nr_entries;
    auto d = devices.find(dev);
    if (r.ok && d != devices.end() && d->second.mapped_blocks != r.nr_entries)
      f_.non_fatal(root, where, "device details say " + std::to_string(d->second.mapped_blocks) +
                                    " mapped blocks but the mapping tree holds " +
                                    std::to_string(r.nr_entries));
  }
}

void Checker::check_space_maps(const Superblock& sb) {
  SpaceMapChecker data_sm(SpaceMapChecker::Kind::data, sb.data_sm_root(), reader_, refs_, walker_,
                          f_);
  SpaceMapChecker meta_sm(SpaceMapChecker::Kind::metadata, sb.metadata_sm_root(), reader_, refs_,
                          walker_, f_);
  bool data_ok = data_sm.account();
  bool meta_ok = meta_sm.account();

  // Counts are only meaningful when every reference was found.
  if (!trees_ok_) return;
  if (meta_ok) {
    meta_sm.compare([&](uint64_t base, uint32_t n, uint32_t* out) { refs_.counts(base, n, out); });
    for (uint64_t b = meta_sm.nr_blocks(); b < refs_.size(); ++b)
      if (refs_.count(b))
        f_.fatal(b, "metadata space map",
                 "block is in use (" + std::string(role_name(refs_.role(b))) +
                     ") but beyond the " + std::to_string(meta_sm.nr_blocks()) +
                     " blocks the metadata space map covers");
    result_.metadata_free_blocks = meta_sm.nr_blocks() - meta_sm.nr_allocated();
  }
  if (data_ok && data_refs_)
    data_sm.compare([&](uint64_t base, uint32_t n, uint32_t* out) { data_refs_->counts(base, n, out); });
}

void Checker::run() {
  Superblock live;
  if (!read_superblock(0, live)) {
    result_.superblock_ok = false;
    return;
  }
  Superblock sb = live;
  uint64_t location = 0;
  if (opts_.metadata_snap) {
    if (!live.held_root) {
      f_.fatal(0, "superblock", "no metadata snapshot is held (held_root is 0)");
      return;
    }
    location = live.held_root;
    if (!read_superblock(location, sb)) return;
    if (sb.held_root)
      f_.non_fatal(location, "metadata snapshot superblock",
                   "the snapshot copy itself records a metadata snapshot");
  }
  result_.superblock = sb;
  result_.superblock_ok = true;
  if (opts_.super_block_only) return;
  if (opts_.progress) {
    uint64_t total = live.metadata_sm_root().nr_allocated;
    reader_.set_progress([this, total](uint64_t done) { opts_.progress(done, total); });
  }

  // Data references are counted only when the data space map can be compared, and only
  // for a data device size the metadata could actually describe.
  nr_data_blocks_ = live.data_sm_root().nr_blocks;
  bool check_sms = !opts_.metadata_snap && !opts_.skip_mappings;
  uint64_t max_data_blocks = reader_.nr_blocks() * uint64_t(kEntriesPerBitmap);
  if (check_sms && nr_data_blocks_ <= max_data_blocks) data_refs_.emplace(nr_data_blocks_);
  if (opts_.metadata_snap) nr_data_blocks_ = ~uint64_t(0);

  check_trees(sb, location, opts_.metadata_snap);
  if (!opts_.metadata_snap && live.held_root) {
    // The snapshot's trees hold references too.
    Superblock snap;
    if (read_superblock(live.held_root, snap))
      check_trees(snap, live.held_root, true);
    else
      trees_ok_ = false;
  }
  if (check_sms) check_space_maps(live);
}

}  // namespace

bool only_data_leaks(const CheckResult& r) {
  uint64_t leaks = 0;
  for (const Finding& f : r.findings.list())
    if (f.severity == Severity::non_fatal && f.problem.starts_with("data reference counts differ") &&
        f.problem.ends_with("(leaked)"))
      ++leaks;
  return r.findings.nr_fatal() == 0 && leaks > 0 && leaks == r.findings.nr_non_fatal();
}

bool only_data_excess(const CheckResult& r) {
  uint64_t excess = 0;
  for (const Finding& f : r.findings.list())
    if (f.severity == Severity::non_fatal && f.problem.starts_with("data reference counts differ"))
      ++excess;
  return r.findings.nr_fatal() == 0 && excess > 0 && excess == r.findings.nr_non_fatal();
}

CheckResult check_metadata(BlockDevice& dev, const CheckOptions& options) {
  CheckResult result;
  Checker checker(dev, options, result);
  checker.run();
  return result;
}

void clear_needs_check_flag(pdata::BlockDevice& dev) {
  std::array<std::byte, pdata::kMetadataBlockSize> block;
  dev.read(0, std::span<std::byte>(block.data(), block.size()));
  const uint32_t flags = pdata::load_le32(block.data() + thin::sb_offset::flags);
  pdata::store_le32(block.data() + thin::sb_offset::flags, flags & ~thin::kNeedsCheckFlag);
  pdata::store_le32(block.data(), pdata::block_checksum(block.data(), pdata::BlockKind::superblock));
  dev.write(0, std::span<const std::byte>(block.data(), block.size()));
  dev.flush();
}

}  // namespace thinsim::check
