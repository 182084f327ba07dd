#include "sim/kernel/oracle_comparison.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "peer/external_command.h"

namespace thinsim::kernel {

using namespace harness;

std::string errno_from_text(const std::string& text) {
  static const std::vector<std::pair<int, std::string>> names = [] {
    std::vector<std::pair<int, std::string>> v;
    for (int e : {EEXIST, ENODATA, EINVAL, EBUSY, ENOSPC, EIO, EOPNOTSUPP, EPERM, ENXIO, ENOMEM, ENODEV, EUCLEAN,
                  EILSEQ, ENOTBLK})
      v.emplace_back(e, std::strerror(e));
    v.emplace_back(ENXIO, std::strerror(ENOENT));  // dd or blkdiscard on a device that is gone
    v.emplace_back(ENXIO, "Device does not exist");  // dmsetup's own check
    return v;
  }();
  size_t best = std::string::npos;
  int err = 0;
  for (auto& [e, s] : names) {
    size_t at = text.rfind(s);
    if (at != std::string::npos && (best == std::string::npos || at > best)) {
      best = at;
      err = e;
    }
  }
  return err ? errno_label(err) : "unknown (" + text + ")";
}

std::string normalise_kernel_outcome(const std::string& outcome, size_t case_index,
                                     const std::map<std::string, std::string>& device_numbers) {
  if (outcome.rfind("err", 0) == 0) return "error " + errno_from_text(outcome.substr(3));
  if (outcome.rfind("line", 0) != 0) return outcome;
  std::istringstream in(outcome.substr(4));
  const std::string prefix = guest_name(case_index, "");
  std::string out = "line";
  for (std::string w; in >> w;) {
    if (auto it = device_numbers.find(w); it != device_numbers.end()) w = it->second;
    if (w.rfind(prefix, 0) == 0) w = w.substr(prefix.size());
    out += " " + w;
  }
  return out == "line" ? "line " : out;
}

namespace {

std::string trim_line(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::vector<std::byte> read_image(const std::string& path, uint64_t offset, uint64_t len) {
  std::vector<std::byte> buf(len);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  ssize_t n = ::pread(fd, buf.data(), len, static_cast<off_t>(offset));
  ::close(fd);
  if (n < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  return buf;
}

void write_bytes(const std::string& path, std::span<const std::byte> data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::string first_byte_difference(std::span<const std::byte> k, std::span<const std::byte> m, uint64_t base) {
  for (size_t i = 0; i < std::min(k.size(), m.size()); ++i)
    if (k[i] != m[i]) {
      char b[96];
      std::snprintf(b, sizeof b, "at byte %llu: kernel 0x%02x, model 0x%02x",
                    static_cast<unsigned long long>(base + i), static_cast<unsigned>(k[i]), static_cast<unsigned>(m[i]));
      return b;
    }
  if (k.size() != m.size()) return "lengths differ: kernel " + std::to_string(k.size()) + ", model " + std::to_string(m.size());
  return {};
}

// The first line where two texts differ, "line N: kernel ... / model ...".
std::string first_line_difference(const std::string& a, const std::string& b, std::string& ka, std::string& mb) {
  std::istringstream x(a), y(b);
  std::string l1, l2;
  for (size_t n = 1;; ++n) {
    bool g1 = static_cast<bool>(std::getline(x, l1));
    bool g2 = static_cast<bool>(std::getline(y, l2));
    if (!g1 && !g2) return {};
    if (!g1) l1 = "(end)";
    if (!g2) l2 = "(end)";
    if (l1 != l2 || !g1 || !g2) {
      ka = l1;
      mb = l2;
      return "line " + std::to_string(n);
    }
  }
}

struct DumpResult {
  std::string text;  // the XML, or "thin_dump failed: ..." when it failed
  bool ok = false;
};

DumpResult thin_dump(const peer::PeerTools& tools, const std::string& image) {
  peer::CommandResult r = peer::run_command({tools.thin_dump, image});
  if (r.ok()) return {r.out, true};
  return {"thin_dump failed (" + r.status() + ")", false};
}

// The number in NAME="N" on a line of thin_dump's XML, if it is there. (Plain string
// search: std::regex trips g++ 12's -Wmaybe-uninitialized under the sanitizers.)
std::optional<uint64_t> xml_number(const std::string& line, const std::string& name) {
  const std::string key = " " + name + "=\"";
  const size_t at = line.find(key);
  if (at == std::string::npos) return std::nullopt;
  const size_t from = at + key.size(), to = line.find('"', from);
  if (to == std::string::npos || to == from || line.find_first_not_of("0123456789", from) != to) return std::nullopt;
  return std::stoull(line.substr(from, to - from));
}


}  // namespace

// Data blocks the dump maps, with the block size in sectors.
std::set<uint64_t> mapped_data_blocks(const std::string& xml, uint64_t& block_sectors) {
  std::set<uint64_t> blocks;
  block_sectors = 0;
  std::istringstream in(xml);
  for (std::string l; std::getline(in, l);) {
    if (!block_sectors)
      if (auto bs = xml_number(l, "data_block_size")) block_sectors = *bs;
    if (auto single = xml_number(l, "data_block")) {
      blocks.insert(*single);
    } else if (auto begin = xml_number(l, "data_begin")) {
      if (auto n = xml_number(l, "length"))
        for (uint64_t b = *begin, left = *n; left--; ++b) blocks.insert(b);
    }
  }
  return blocks;
}

CaseComparison compare_case(const OracleCase& oc, size_t case_index, const KernelCaseResult& kernel,
                            const KernelImages& images, ModelSide& model, const peer::PeerTools& tools,
                            const std::string& case_dir) {
  CaseComparison cmp;
  const auto& msteps = model.steps();
  auto differ = [&](size_t i, std::string what, std::string k, std::string m) {
    Difference d;
    d.step = i;
    d.where = oc.step_location(i);
    d.command = i < oc.run.commands.size() ? to_text(oc.run.commands[i]) : "(end state)";
    d.what = std::move(what);
    d.kernel = std::move(k);
    d.model = std::move(m);
    cmp.difference = std::move(d);
  };
  // Steps up to the first difference; the end state is compared (and its images kept
  // for the bundle) whatever happened here.
  [&] {
    for (size_t i = 0; i < oc.run.commands.size(); ++i) {
      const ModelStep* ms = i < msteps.size() ? &msteps[i] : nullptr;
      const auto& ks = kernel.steps[i];
      if (!ks) {
        differ(i, "outcome", "(the guest reported nothing: it stopped here)", ms ? ms->outcome : "(none)");
        return;
      }
      if (!ms) {
        differ(i, "outcome", ks->outcome, "(the model stopped before this step)");
        return;
      }
      const std::string ko = trim_line(normalise_kernel_outcome(ks->outcome, case_index, ks->device_numbers));
      if (ko != trim_line(ms->outcome)) {
        differ(i, "outcome", ko + (ko.rfind("error", 0) == 0 ? "   (" + ks->outcome.substr(4) + ")" : ""), ms->outcome);
        return;
      }
      std::vector<std::string> kc;
      for (auto& c : ks->commits) kc.push_back(trim_line(c));
      if (kc != ms->commits) {
        auto join = [](const std::vector<std::string>& v) {
          std::string s;
          for (auto& x : v) s += (s.empty() ? "" : " | ") + x;
          return s.empty() ? "(none)" : s;
        };
        differ(i, "status line of the forced commit after the step", join(kc), join(ms->commits));
        return;
      }
      const Command& c = oc.run.commands[i];
      if (c.kind() == CommandKind::read && ko == "ok") {
        auto& r = c.as<ReadCmd>();
        auto kd = read_image(images.dir + "/out.img", images.layout->out_offset[i], r.nr_sectors * 512);
        std::string d = first_byte_difference(kd, ms->data, r.sector * 512);
        if (!d.empty()) {
          differ(i, "data read", d, "(device offset)");
          return;
        }
      }
      if (c.kind() == CommandKind::check && ko == "ok") {
        auto kd = read_image(images.dir + "/out.img", images.layout->out_offset[i], ms->data.size());
        std::string d = first_byte_difference(kd, ms->data, 0);
        if (!d.empty()) {
          differ(i, "the disk's bytes at the check", d, "(disk offset)");
          return;
        }
      }
      ++cmp.steps_compared;
    }
  }();
  // The end state: each metadata disk's dump, the data blocks it maps, the image bytes.
  cmp.metadata_identical = true;
  const size_t end = oc.run.commands.size();
  for (const PoolDisks& pd : oc.pool_disks) {
    const OracleDisk* md = oc.disk(pd.metadata);
    const uint64_t len = model.disk_bytes(pd.metadata);
    auto kimg = read_image(images.dir + "/disks.img", images.layout->disk_offset.at(pd.metadata), len);
    std::vector<std::byte> mimg(len);
    model.read_disk(pd.metadata, 0, mimg);
    const std::string kpath = case_dir + "/kernel-" + md->name + ".img", mpath = case_dir + "/model-" + md->name + ".img";
    write_bytes(kpath, kimg);
    write_bytes(mpath, mimg);
    cmp.files.push_back(kpath);
    cmp.files.push_back(mpath);
    const bool identical = kimg == mimg;
    cmp.metadata_identical &= identical;
    // Equal bytes dump alike: one thin_dump then does for both.
    DumpResult kd = thin_dump(tools, kpath);
    DumpResult mdump = identical ? kd : thin_dump(tools, mpath);
    {
      std::ofstream(case_dir + "/kernel-" + md->name + ".xml") << kd.text;
      std::ofstream(case_dir + "/model-" + md->name + ".xml") << mdump.text;
    }
    if (cmp.difference) continue;
    std::string kl, ml;
    if (std::string at = first_line_difference(kd.text, mdump.text, kl, ml); !at.empty()) {
      differ(end, "thin_dump of " + md->name + " after teardown, " + at, kl, ml);
      continue;
    }
    if (!kd.ok) continue;
    uint64_t bs = 0;
    const OracleDisk* dd = oc.disk(pd.data);
    for (uint64_t b : mapped_data_blocks(kd.text, bs)) {
      const uint64_t off = b * bs * 512, n = bs * 512;
      if (off + n > dd->max_sectors * 512) break;
      auto k = read_image(images.dir + "/disks.img", images.layout->disk_offset.at(pd.data) + off, n);
      std::vector<std::byte> m(n);
      model.read_disk(pd.data, off, m);
      if (std::string d = first_byte_difference(k, m, off); !d.empty()) {
        differ(end, "data block " + std::to_string(b) + " of " + dd->name + " (mapped in the dump)", d, "");
        break;
      }
    }
  }
  return cmp;
}

}  // namespace thinsim::kernel
