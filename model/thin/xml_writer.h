// XmlWriter: a MetadataVisitor that prints the XML dialect of thin_dump from
// thin-provisioning-tools 0.9.0, byte for byte.
//
// Format (verified against the installed thin_dump 0.9.0; see tests/unit/xml_test.cc):
//   <superblock uuid="U" time="T" transaction="X" flags="F" version="V" data_block_size="B" nr_data_blocks="N">
//     <device dev_id="D" mapped_blocks="M" transaction="X" creation_time="C" snap_time="S">
//       <single_mapping origin_block="O" data_block="B" time="T"/>
//       <range_mapping origin_begin="O" data_begin="B" length="L" time="T"/>
//     </device>
//   </superblock>
// - Indentation is two spaces per nesting level; every line ends with "\n" (no CR), including the last.
// - flags prints 0 when absent, version prints 1 when absent (0.9.0's defaults).
// - metadata_snap="K" is appended after nr_data_blocks only when SuperblockInfo::metadata_snap is set
//   (0.9.0's thin_dump never sets it; its restore input may carry it).
// - A run of length 1 prints as <single_mapping>, any longer run as <range_mapping>.
// - The device element is always written as an open/close pair, even when empty.
// - uuid is written verbatim except that & < > " and TAB/LF/CR are escaped (0.9.0 writes it unescaped,
//   which only matters for uuids that would make its output malformed; thin_dump 0.9.0 always prints "").
//
// Output is accumulated in a private buffer (1 MiB by default) and written with write(2) or fwrite(3)
// when the buffer fills, at end_superblock() and at flush(). Any write failure throws std::runtime_error
// naming the output and the errno text. Calls out of order (a mapping outside a device, a device outside
// the superblock, ...) or a run of length 0 throw std::logic_error: they are programming errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "model/thin/metadata_visitor.h"

namespace thinsim::thin {

class XmlWriter final : public MetadataVisitor {
 public:
  static constexpr std::size_t kDefaultBufferSize = std::size_t{1} << 20;

  // Writes to a file descriptor that stays owned by the caller. `name` is used in error messages.
  explicit XmlWriter(int fd, std::string name = "output", std::size_t buffer_size = kDefaultBufferSize);
  // Writes to a stdio stream that stays owned by the caller; flush() also fflush()es it.
  explicit XmlWriter(std::FILE* stream, std::string name = "output",
                     std::size_t buffer_size = kDefaultBufferSize);
  // Appends to a string (for tests and small documents).
  explicit XmlWriter(std::string& out);

  XmlWriter(const XmlWriter&) = delete;
  XmlWriter& operator=(const XmlWriter&) = delete;

  // Flushes what is still buffered, ignoring errors. Call flush() (or end_superblock()) to see them.
  ~XmlWriter() override;

  void begin_superblock(const SuperblockInfo& sb) override;
  void end_superblock() override;  // also flushes
  void begin_device(const DeviceInfo& dev) override;
  void end_device() override;
  void mapping(const MappingRun& run) override;

  // Hands everything buffered to the output (and fflush()es a FILE*). Throws std::runtime_error.
  void flush();

  // Bytes produced so far (buffered or written).
  uint64_t bytes_written() const { return flushed_ + static_cast<uint64_t>(pos_ - buf_.get()); }

 private:
  enum class Sink { kFd, kFile, kString };
  enum class Level { kTop, kSuperblock, kDevice, kDone };

  // Guarantees `n` free bytes in the buffer (n must be <= capacity).
  void reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - pos_) < n) drain();
  }
  void drain();  // writes the buffer out, without fflush
  void put(const char* s, std::size_t n);
  template <std::size_t N>
  void lit(const char (&s)[N]) {
    put(s, N - 1);
  }
  void escaped(const std::string& s);
  [[noreturn]] void misuse(const char* what) const;
  [[noreturn]] void write_failed(int err) const;

  Sink sink_;
  int fd_ = -1;
  std::FILE* stream_ = nullptr;
  std::string* string_ = nullptr;
  std::string name_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buf_;
  char* pos_;
  char* end_;
  uint64_t flushed_ = 0;
  Level level_ = Level::kTop;
};

}  // namespace thinsim::thin
