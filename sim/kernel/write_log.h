// A dm-log-writes log (drivers/md/dm-log-writes.c), as the guest's power cuts read it back:
// a super sector (magic, version, nr_entries, sectorsize), then per entry one sector holding
// struct log_write_entry (a mark's text follows it in the same sector) and, for a write, the
// data it wrote. The target logs a write only once a FLUSH issued after its completion
// completes (its unflushed list goes into the log just before the flush entry), a FUA write
// and a mark at once; so at a quiet moment the log up to a mark holds exactly what the disk
// had made durable, plus the FUA writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace thinsim::kernel {

inline constexpr uint64_t kWriteLogMagic = 0x6a736677736872ULL;
inline constexpr uint64_t kWriteLogVersion = 1;
enum WriteLogFlag : uint64_t {
  kLogFlush = 1 << 0,
  kLogFua = 1 << 1,
  kLogDiscard = 1 << 2,
  kLogMark = 1 << 3,
  kLogMetadata = 1 << 4,
};

struct WriteLogEntry {
  uint64_t sector = 0;      // 512-byte sectors of the logged device
  uint64_t nr_sectors = 0;  // 512-byte sectors; 0 for a bare flush and for marks
  uint64_t flags = 0;
  std::string mark;          // a mark's text
  uint64_t data_offset = 0;  // byte offset of a write's data in the log

  bool is_mark() const { return flags & kLogMark; }
  bool is_discard() const { return flags & kLogDiscard; }
  bool is_flush() const { return flags & kLogFlush; }
  bool is_fua() const { return flags & kLogFua; }
};

class WriteLogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Fills the buffer from byte offset `offset` of the log; false if it cannot.
using LogReader = std::function<bool(uint64_t offset, std::span<std::byte> out)>;

// Every entry the super counts, in log order. Throws WriteLogError naming the entry and
// the problem for a log that is not one, is cut short or holds an entry that cannot be.
std::vector<WriteLogEntry> read_write_log(const LogReader& read, uint64_t log_bytes);

}  // namespace thinsim::kernel
