#include "sim/kernel/dmctl_faults.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "model/pdata/checksum.h"
#include "model/pdata/endian.h"
#include "sim/kernel/decimal.h"
#include "sim/kernel/log_replay.h"

namespace thinsim::dmctl {
namespace {

struct Failed {
  int err;
};

[[noreturn]] void fail(const std::string& what, int err = errno) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), std::strerror(err));
  throw Failed{err ? err : EIO};
}

class Device {
 public:
  Device(const std::string& path, int flags) : path_(path), fd_(::open(path.c_str(), flags | O_CLOEXEC)) {
    if (fd_ < 0) fail("open " + path);
    // Nothing cached from before: the kernel's own bios wrote what is on it.
    (void)::ioctl(fd_, BLKFLSBUF, 0);
  }
  ~Device() { ::close(fd_); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  uint64_t bytes() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail("stat " + path_);
    if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);  // an image (the host's tests)
    uint64_t n = 0;
    if (::ioctl(fd_, BLKGETSIZE64, &n) != 0) fail("size of " + path_);
    return n;
  }
  bool read(uint64_t off, void* buf, size_t len) const {
    for (size_t got = 0; got < len;) {
      const ssize_t n = ::pread(fd_, static_cast<char*>(buf) + got, len - got, static_cast<off_t>(off + got));
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }
  void read_or_fail(uint64_t off, void* buf, size_t len) const {
    if (!read(off, buf, len)) fail("read " + path_ + " at byte " + std::to_string(off), errno ? errno : EIO);
  }
  void write(uint64_t off, const void* buf, size_t len) const {
    for (size_t put = 0; put < len;) {
      const ssize_t n = ::pwrite(fd_, static_cast<const char*>(buf) + put, len - put, static_cast<off_t>(off + put));
      if (n <= 0) fail("write " + path_ + " at byte " + std::to_string(off + put), n == 0 ? EIO : errno);
      put += static_cast<size_t>(n);
    }
  }
  void sync() const {
    if (::fsync(fd_) != 0) fail("fsync " + path_);
  }

 private:
  std::string path_;
  int fd_;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t from = 0;
  while (true) {
    const size_t at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return out;
    from = at + 1;
  }
}

uint64_t number(const std::string& s, const char* what) {
  const std::optional<uint64_t> v = thinsim::kernel::parse_decimal(s);
  if (!v) {
    std::fprintf(stderr, "dmctl: %s is not a number: %s\n", what, s.c_str());
    throw Failed{EINVAL};
  }
  return *v;
}

struct JournaledDisk {
  std::string name, base, initial;
  std::vector<std::string> logs;
  bool metadata = false;
};

JournaledDisk parse_disk(const std::string& arg) {
  JournaledDisk d;
  const size_t eq = arg.find('=');
  const auto parts = split(eq == std::string::npos ? std::string{} : arg.substr(eq + 1), ':');
  if (eq == std::string::npos || parts.size() < 3 || parts.size() > 4 || (parts.size() == 4 && parts[3] != "meta")) {
    std::fprintf(stderr, "dmctl: replay: bad disk %s (NAME=BASE:INITIAL:LOG,...[:meta])\n", arg.c_str());
    throw Failed{EINVAL};
  }
  d.name = arg.substr(0, eq);
  d.base = parts[0];
  d.initial = parts[1];
  d.logs = split(parts[2], ',');
  d.metadata = parts.size() == 4;
  return d;
}

int replay_disks(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    std::fprintf(stderr, "dmctl: replay CRASHES DISK...\n");
    return EINVAL;
  }
  std::vector<kernel::CrashChoice> crashes;
  for (const std::string& c : split(args[0], ',')) {
    auto choice = kernel::parse_crash_choice(c);
    if (!choice) {
      std::fprintf(stderr, "dmctl: replay: bad crash choice %s\n", c.c_str());
      return EINVAL;
    }
    crashes.push_back(*choice);
  }
  std::vector<JournaledDisk> disks;
  std::vector<kernel::DiskLogs> logs;
  for (size_t i = 1; i < args.size(); ++i) {
    disks.push_back(parse_disk(args[i]));
    kernel::DiskLogs dl;
    dl.name = disks.back().name;
    dl.metadata = disks.back().metadata;
    for (const std::string& path : disks.back().logs) {
      Device log(path, O_RDONLY);
      dl.segments.push_back(kernel::read_write_log(
          [&](uint64_t off, std::span<std::byte> out) { return log.read(off, out.data(), out.size()); }, log.bytes()));
    }
    logs.push_back(std::move(dl));
  }
  const auto plans = kernel::plan_replay(logs, crashes);
  std::vector<char> buf(1 << 20);
  for (size_t d = 0; d < disks.size(); ++d) {
    const JournaledDisk& jd = disks[d];
    Device base(jd.base, O_RDWR);
    const uint64_t limit = base.bytes();
    std::vector<std::unique_ptr<Device>> segment_logs;
    for (const std::string& path : jd.logs) segment_logs.push_back(std::make_unique<Device>(path, O_RDONLY));
    std::unique_ptr<Device> initial;
    if (jd.initial != "zero") initial = std::make_unique<Device>(jd.initial, O_RDONLY);
    for (const kernel::ReplayPiece& p : plans[d]) {
      const uint64_t begin = p.begin * 512, end = std::min(p.end * 512, limit);
      for (uint64_t at = begin; at < end;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - at));
        switch (p.source.kind) {
          case kernel::ReplaySource::Kind::zero: std::memset(buf.data(), 0, n); break;
          case kernel::ReplaySource::Kind::initial:
            if (initial) initial->read_or_fail(at, buf.data(), n);
            else std::memset(buf.data(), 0, n);
            break;
          case kernel::ReplaySource::Kind::log:
            segment_logs.at(p.source.segment)->read_or_fail(p.source.offset + (at - begin), buf.data(), n);
            break;
        }
        base.write(at, buf.data(), n);
        at += n;
      }
    }
    base.sync();
  }
  return 0;
}

}  // namespace

int fsync_device(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "dmctl: fsync DEV\n");
    return EINVAL;
  }
  try {
    Device(args[0], O_RDONLY).sync();
    return 0;
  } catch (const Failed& f) {
    return f.err;
  }
}

int replay(const std::vector<std::string>& args) {
  try {
    return replay_disks(args);
  } catch (const Failed& f) {
    return f.err;
  } catch (const std::exception& e) {  // WriteLogError, ReplayError
    std::fprintf(stderr, "dmctl: replay: %s\n", e.what());
    return EILSEQ;
  }
}

int flip(const std::vector<std::string>& args, bool undo) {
  if (args.size() != 4) {
    std::fprintf(stderr, "dmctl: %s DEV SECTOR BIT SAVE\n", undo ? "unflip" : "flip");
    return EINVAL;
  }
  try {
    const uint64_t sector = number(args[1], "sector");
    const uint64_t bit = number(args[2], "bit");
    if (bit >= 4096) {
      std::fprintf(stderr, "dmctl: bit %s is outside a sector\n", args[2].c_str());
      return EINVAL;
    }
    Device dev(args[0], O_RDWR);
    if (sector >= dev.bytes() / 512) fail("sector " + args[1] + " of " + args[0], EINVAL);
    unsigned char s[512];
    dev.read_or_fail(sector * 512, s, sizeof s);
    if (undo) {
      unsigned char saved[512];
      const int fd = ::open(args[3].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) fail("open " + args[3]);
      const bool got = ::read(fd, saved, sizeof saved) == static_cast<ssize_t>(sizeof saved);
      ::close(fd);
      if (!got) fail("read " + args[3], EIO);
      if (std::memcmp(s, saved, sizeof s) != 0) return 0;  // rewritten since: repaired
    }
    s[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    dev.write(sector * 512, s, sizeof s);
    dev.sync();
    if (!undo) {
      const int fd = ::open(args[3].c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) fail("create " + args[3]);
      const bool put = ::write(fd, s, sizeof s) == static_cast<ssize_t>(sizeof s);
      ::close(fd);
      if (!put) fail("write " + args[3], EIO);
    }
    return 0;
  } catch (const Failed& f) {
    return f.err;
  }
}

int clear_needs_check(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "dmctl: clear-needs-check DEV\n");
    return EINVAL;
  }
  try {
    constexpr uint32_t kNeedsCheck = 1;  // THIN_METADATA_NEEDS_CHECK_FLAG, at byte 4
    unsigned char sb[4096];
    Device dev(args[0], O_RDWR);
    dev.read_or_fail(0, sb, sizeof sb);
    const uint32_t csum = pdata::dm_checksum(sb + 4, sizeof sb - 4, pdata::kSuperblockCsumXor);
    const uint32_t flags = pdata::load_le32(sb + 4);
    if (pdata::load_le32(sb) != csum || !(flags & kNeedsCheck)) return 0;
    pdata::store_le32(sb + 4, flags & ~kNeedsCheck);
    pdata::store_le32(sb, pdata::dm_checksum(sb + 4, sizeof sb - 4, pdata::kSuperblockCsumXor));
    dev.write(0, sb, sizeof sb);
    dev.sync();
    return 0;
  } catch (const Failed& f) {
    return f.err;
  }
}

}  // namespace thinsim::dmctl
