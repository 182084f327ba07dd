// A block device backed by a regular file or a real block device node.
#pragma once

#include <string>

#include "model/pdata/block_device.h"

namespace thinsim::pdata {

class FileBlockDevice final : public BlockDevice {
 public:
  enum class Mode { read_only, read_write };

  // Opens an existing file or device. Its size (rounded down to whole sectors) is the
  // device size. Throws IoError naming the path on failure.
  FileBlockDevice(const std::string& path, Mode mode);
  ~FileBlockDevice() override;
  FileBlockDevice(const FileBlockDevice&) = delete;
  FileBlockDevice& operator=(const FileBlockDevice&) = delete;

  uint64_t nr_sectors() const override { return nr_sectors_; }
  void read(uint64_t sector, std::span<std::byte> buf) override;
  void write(uint64_t sector, std::span<const std::byte> buf, WriteFlags flags = {}) override;
  void flush() override;
  void discard(uint64_t sector, uint64_t nr_sectors) override;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t nr_sectors_ = 0;
  Mode mode_;
};

}  // namespace thinsim::pdata
