#include "model/thin/xml_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace thinsim::thin {

namespace {

constexpr std::size_t kMinBufferSize = 4096;
// Longest fixed-format line: indentation, the range_mapping literals and four 20-digit numbers.
constexpr std::size_t kMaxLine = 256;

template <std::size_t N>
inline char* copy_lit(char* p, const char (&s)[N]) {
  std::memcpy(p, s, N - 1);
  return p + (N - 1);
}

inline char* copy_num(char* p, uint64_t v) {
  // 20 digits always fit: callers reserve kMaxLine bytes per line.
  return std::to_chars(p, p + 20, v).ptr;
}

}  // namespace

XmlWriter::XmlWriter(int fd, std::string name, std::size_t buffer_size)
    : sink_(Sink::kFd),
      fd_(fd),
      name_(std::move(name)),
      capacity_(std::max(buffer_size, kMinBufferSize)),
      buf_(new char[capacity_]),
      pos_(buf_.get()),
      end_(buf_.get() + capacity_) {}

XmlWriter::XmlWriter(std::FILE* stream, std::string name, std::size_t buffer_size)
    : sink_(Sink::kFile),
      stream_(stream),
      name_(std::move(name)),
      capacity_(std::max(buffer_size, kMinBufferSize)),
      buf_(new char[capacity_]),
      pos_(buf_.get()),
      end_(buf_.get() + capacity_) {}

XmlWriter::XmlWriter(std::string& out)
    : sink_(Sink::kString),
      string_(&out),
      name_("string"),
      capacity_(64 * 1024),
      buf_(new char[capacity_]),
      pos_(buf_.get()),
      end_(buf_.get() + capacity_) {}

XmlWriter::~XmlWriter() {
  try {
    flush();
  } catch (...) {
    // Destructors must not throw; callers who care call flush() or end_superblock() themselves.
  }
}

void XmlWriter::write_failed(int err) const {
  throw std::runtime_error("error writing XML to " + name_ + ": " + std::strerror(err));
}

void XmlWriter::misuse(const char* what) const {
  throw std::logic_error(std::string("XmlWriter: ") + what);
}

void XmlWriter::drain() {
  const char* p = buf_.get();
  std::size_t n = static_cast<std::size_t>(pos_ - p);
  if (n == 0) return;
  switch (sink_) {
    case Sink::kFd:
      while (n > 0) {
        ssize_t w = ::write(fd_, p, n);
        if (w <= 0) {
          if (w < 0 && errno == EINTR) continue;
          int err = w < 0 ? errno : EIO;
          // Keep the unwritten tail so that a later flush() neither loses nor duplicates output.
          std::memmove(buf_.get(), p, n);
          pos_ = buf_.get() + n;
          write_failed(err);
        }
        p += w;
        n -= static_cast<std::size_t>(w);
        flushed_ += static_cast<uint64_t>(w);
      }
      break;
    case Sink::kFile: {
      errno = 0;
      std::size_t w = std::fwrite(p, 1, n, stream_);
      flushed_ += w;
      if (w != n) {
        int err = errno != 0 ? errno : EIO;
        std::memmove(buf_.get(), p + w, n - w);
        pos_ = buf_.get() + (n - w);
        write_failed(err);
      }
      break;
    }
    case Sink::kString:
      string_->append(p, n);
      flushed_ += n;
      break;
  }
  pos_ = buf_.get();
}

void XmlWriter::flush() {
  drain();
  if (sink_ == Sink::kFile) {
    errno = 0;
    if (std::fflush(stream_) != 0) write_failed(errno != 0 ? errno : EIO);
  }
}

void XmlWriter::put(const char* s, std::size_t n) {
  while (n > 0) {
    if (pos_ == end_) drain();
    std::size_t k = std::min(n, static_cast<std::size_t>(end_ - pos_));
    std::memcpy(pos_, s, k);
    pos_ += k;
    s += k;
    n -= k;
  }
}

void XmlWriter::escaped(const std::string& s) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char* rep = nullptr;
    switch (s[i]) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&quot;"; break;
      case '\t': rep = "&#9;"; break;
      case '\n': rep = "&#10;"; break;
      case '\r': rep = "&#13;"; break;
      default: continue;
    }
    put(s.data() + start, i - start);
    put(rep, std::strlen(rep));
    start = i + 1;
  }
  put(s.data() + start, s.size() - start);
}

void XmlWriter::begin_superblock(const SuperblockInfo& sb) {
  if (level_ != Level::kTop) misuse("begin_superblock called twice");
  level_ = Level::kSuperblock;
  lit("<superblock uuid=\"");
  escaped(sb.uuid);
  reserve(kMaxLine);
  char* p = pos_;
  p = copy_lit(p, "\" time=\"");
  p = copy_num(p, sb.time);
  p = copy_lit(p, "\" transaction=\"");
  p = copy_num(p, sb.transaction);
  p = copy_lit(p, "\" flags=\"");
  p = copy_num(p, sb.flags.value_or(0));
  p = copy_lit(p, "\" version=\"");
  p = copy_num(p, sb.version.value_or(1));
  p = copy_lit(p, "\" data_block_size=\"");
  p = copy_num(p, sb.data_block_size);
  p = copy_lit(p, "\" nr_data_blocks=\"");
  p = copy_num(p, sb.nr_data_blocks);
  if (sb.metadata_snap) {
    p = copy_lit(p, "\" metadata_snap=\"");
    p = copy_num(p, *sb.metadata_snap);
  }
  p = copy_lit(p, "\">\n");
  pos_ = p;
}

void XmlWriter::end_superblock() {
  if (level_ != Level::kSuperblock) misuse("end_superblock outside the superblock or inside a device");
  level_ = Level::kDone;
  lit("</superblock>\n");
  flush();
}

void XmlWriter::begin_device(const DeviceInfo& dev) {
  if (level_ != Level::kSuperblock) misuse("begin_device outside the superblock or inside a device");
  level_ = Level::kDevice;
  reserve(kMaxLine);
  char* p = pos_;
  p = copy_lit(p, "  <device dev_id=\"");
  p = copy_num(p, dev.dev_id);
  p = copy_lit(p, "\" mapped_blocks=\"");
  p = copy_num(p, dev.mapped_blocks);
  p = copy_lit(p, "\" transaction=\"");
  p = copy_num(p, dev.transaction);
  p = copy_lit(p, "\" creation_time=\"");
  p = copy_num(p, dev.creation_time);
  p = copy_lit(p, "\" snap_time=\"");
  p = copy_num(p, dev.snap_time);
  p = copy_lit(p, "\">\n");
  pos_ = p;
}

void XmlWriter::end_device() {
  if (level_ != Level::kDevice) misuse("end_device outside a device");
  level_ = Level::kSuperblock;
  lit("  </device>\n");
}

void XmlWriter::mapping(const MappingRun& run) {
  if (level_ != Level::kDevice) [[unlikely]]
    misuse("mapping outside a device");
  if (run.length == 0) [[unlikely]]
    misuse("mapping run of length 0");
  reserve(kMaxLine);
  char* p = pos_;
  if (run.length == 1) {
    p = copy_lit(p, "    <single_mapping origin_block=\"");
    p = copy_num(p, run.origin_begin);
    p = copy_lit(p, "\" data_block=\"");
    p = copy_num(p, run.data_begin);
  } else {
    p = copy_lit(p, "    <range_mapping origin_begin=\"");
    p = copy_num(p, run.origin_begin);
    p = copy_lit(p, "\" data_begin=\"");
    p = copy_num(p, run.data_begin);
    p = copy_lit(p, "\" length=\"");
    p = copy_num(p, run.length);
  }
  p = copy_lit(p, "\" time=\"");
  p = copy_num(p, run.time);
  p = copy_lit(p, "\"/>\n");
  pos_ = p;
}

}  // namespace thinsim::thin
