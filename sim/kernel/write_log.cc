#include "sim/kernel/write_log.h"

#include "model/pdata/endian.h"

namespace thinsim::kernel {

using pdata::load_le32;
using pdata::load_le64;

std::vector<WriteLogEntry> read_write_log(const LogReader& read, uint64_t log_bytes) {
  std::vector<std::byte> sector(4096);
  if (log_bytes < 1024 || !read(0, std::span(sector).first(512)))
    throw WriteLogError("write log: cannot read the super sector");
  if (load_le64(sector.data()) != kWriteLogMagic) throw WriteLogError("write log: no log-writes super (bad magic)");
  if (load_le64(sector.data() + 8) != kWriteLogVersion)
    throw WriteLogError("write log: version " + std::to_string(load_le64(sector.data() + 8)) + ", not 1");
  const uint64_t nr_entries = load_le64(sector.data() + 16);
  const uint32_t sectorsize = load_le32(sector.data() + 24);
  if (sectorsize < 512 || sectorsize > 4096 || (sectorsize & (sectorsize - 1)))
    throw WriteLogError("write log: sector size " + std::to_string(sectorsize));
  const uint64_t per = sectorsize / 512;  // 512-byte sectors per logged-device sector
  // Every entry takes at least one sector of the log: a count beyond that is a lie.
  if (nr_entries > log_bytes / sectorsize)
    throw WriteLogError("write log: " + std::to_string(nr_entries) + " entries cannot fit in the log");

  std::vector<WriteLogEntry> out;
  out.reserve(nr_entries);
  uint64_t pos = sectorsize;  // the first entry follows the super's sector
  for (uint64_t n = 0; n < nr_entries; ++n) {
    const std::string where = "write log entry " + std::to_string(n) + " (byte " + std::to_string(pos) + ")";
    if (pos + sectorsize > log_bytes || !read(pos, std::span(sector).first(sectorsize)))
      throw WriteLogError(where + ": beyond the end of the log");
    WriteLogEntry e;
    e.flags = load_le64(sector.data() + 16);
    if (e.flags & ~uint64_t(kLogFlush | kLogFua | kLogDiscard | kLogMark | kLogMetadata))
      throw WriteLogError(where + ": unknown flags " + std::to_string(e.flags));
    const uint64_t dev_sector = load_le64(sector.data());
    const uint64_t dev_sectors = load_le64(sector.data() + 8);
    const uint64_t data_len = load_le64(sector.data() + 24);
    if (dev_sector > (UINT64_MAX / 512) / per || dev_sectors > (UINT64_MAX / 512) / per - dev_sector)
      throw WriteLogError(where + ": sector range overflows");
    e.sector = dev_sector * per;
    e.nr_sectors = dev_sectors * per;
    pos += sectorsize;
    if (e.is_mark()) {
      if (data_len > sectorsize - 32) throw WriteLogError(where + ": mark longer than its sector");
      e.mark.assign(reinterpret_cast<const char*>(sector.data() + 32), data_len);
    } else if (!e.is_discard()) {
      const uint64_t bytes = e.nr_sectors * 512;
      if (bytes > log_bytes - pos) throw WriteLogError(where + ": its data runs beyond the end of the log");
      e.data_offset = pos;
      pos += bytes;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace thinsim::kernel
