#include "fault/crash/metadata_view.h"


#include <cstdio>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "model/check/metadata_checker.h"
#include "model/pdata/error.h"
#include "model/thin/metadata_dumper.h"
#include "model/thin/superblock.h"
#include "model/thin/xml_writer.h"

namespace thinsim::fault {
namespace {

// Hashes the dump's event stream; keeps the data runs.
class Fingerprinter final : public thin::MetadataVisitor {
 public:
  explicit Fingerprinter(MetadataView& v) : v_(v) { XXH3_128bits_reset(&state_); }
  void begin_superblock(const thin::SuperblockInfo& sb) override {
    add('S', sb.time, sb.transaction, sb.flags.value_or(0), sb.data_block_size, sb.nr_data_blocks,
        sb.metadata_snap.value_or(~0ull));
  }
  void end_superblock() override {}
  void begin_device(const thin::DeviceInfo& d) override {
    add('D', d.dev_id, d.mapped_blocks, d.transaction, d.creation_time, d.snap_time, 0);
  }
  void end_device() override {}
  void mapping(const thin::MappingRun& r) override {
    add('M', r.origin_begin, r.data_begin, r.length, r.time, 0, 0);
    v_.mapped.push_back({r.data_begin, r.length});
  }
  std::string digest() {
    const XXH128_hash_t h = XXH3_128bits_digest(&state_);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", (unsigned long long)h.high64,
                  (unsigned long long)h.low64);
    return buf;
  }

 private:
  void add(char tag, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f) {
    const uint64_t words[7] = {uint64_t(tag), a, b, c, d, e, f};
    XXH3_128bits_update(&state_, words, sizeof words);
  }
  MetadataView& v_;
  XXH3_state_t state_;
};

// Records which blocks a walk reads: for a full check, the blocks the superblock reaches.
class ReadRecorder final : public pdata::BlockDevice {
 public:
  ReadRecorder(pdata::BlockDevice& dev, std::set<uint64_t>& blocks) : dev_(dev), blocks_(blocks) {}
  uint64_t nr_sectors() const override { return dev_.nr_sectors(); }
  void read(uint64_t sector, std::span<std::byte> buf) override {
    dev_.read(sector, buf);
    for (uint64_t b = sector / 8; b <= (sector + buf.size() / 512 - 1) / 8; ++b) blocks_.insert(b);
  }
  void write(uint64_t, std::span<const std::byte>, pdata::WriteFlags) override {
    throw std::logic_error("metadata view: the checker wrote");
  }
  void flush() override {}
  void discard(uint64_t, uint64_t) override {}

 private:
  pdata::BlockDevice& dev_;
  std::set<uint64_t>& blocks_;
};

bool all_zero(const std::byte* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != std::byte{0}) return false;
  return true;
}

}  // namespace

MetadataView read_metadata_view(pdata::BlockDevice& dev, const MetadataViewOptions& options,
                                std::string* xml) {
  MetadataView v;
  std::vector<std::byte> block(4096);
  try {
    dev.read(0, block);
  } catch (const pdata::PdataError& e) {
    v.check_problem = std::string("superblock unreadable: ") + e.what();
    v.fingerprint = "unreadable";
    return v;
  }
  if (all_zero(block.data(), block.size())) {
    v.unformatted = true;
    v.check_passed = true;
    v.fingerprint = "unformatted";
    return v;
  }
  try {
    std::set<uint64_t> reached;
    ReadRecorder recorder(dev, reached);
    pdata::BlockDevice& source = options.reachable ? static_cast<pdata::BlockDevice&>(recorder) : dev;
    check::CheckResult r = check::check_metadata(source, {});
    if (options.reachable && r.superblock && r.superblock->held_root != 0) {
      check::CheckOptions snap;
      snap.metadata_snap = true;
      check::check_metadata(recorder, snap);
    }
    v.reachable = std::move(reached);
    v.check_passed = r.passed(false);
    if (!v.check_passed) {
      v.check_problem = r.findings.list().empty() ? "check failed" : r.findings.list()[0].to_string();
      v.only_data_leaks = check::only_data_leaks(r);
      v.only_data_excess = check::only_data_excess(r);
    }
    if (r.superblock) {
      v.needs_check = r.superblock->needs_check();
      v.data_block_sectors = r.superblock->data_block_size;
      v.transaction_id = r.superblock->trans_id;
    }
    if (!r.superblock_ok) {
      v.fingerprint = "bad superblock";
      return v;
    }
  } catch (const pdata::PdataError& e) {
    v.check_problem = std::string("check: ") + e.what();
  }
  try {
    Fingerprinter fp(v);
    thin::dump_metadata(dev, {}, fp);
    v.fingerprint = fp.digest();
  } catch (const std::exception& e) {
    v.fingerprint = "undumpable";
    if (v.check_problem.empty()) v.check_problem = std::string("dump: ") + e.what();
    v.check_passed = false;
  }
  if (xml && !v.unformatted) {
    try {
      thin::XmlWriter w(*xml);
      thin::dump_metadata(dev, {}, w);
    } catch (const std::exception& e) {
      *xml += std::string("<!-- dump failed: ") + e.what() + " -->\n";
    }
  }
  return v;
}

}  // namespace thinsim::fault
