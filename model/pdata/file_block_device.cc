#include "model/pdata/file_block_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "model/pdata/error.h"

namespace thinsim::pdata {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

FileBlockDevice::FileBlockDevice(const std::string& path, Mode mode) : path_(path), mode_(mode) {
  fd_ = ::open(path.c_str(), (mode == Mode::read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    throw IoError(err, path + ": cannot open: " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throw IoError(err, path + ": cannot stat: " + errno_text(err));
  }
  uint64_t bytes = 0;
  if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd_, BLKGETSIZE64, &bytes) != 0) {
      int err = errno;
      ::close(fd_);
      throw IoError(err, path + ": cannot get block device size: " + errno_text(err));
    }
  } else if (S_ISREG(st.st_mode)) {
    bytes = static_cast<uint64_t>(st.st_size);
  } else {
    ::close(fd_);
    throw IoError(EINVAL, path + ": not a regular file or block device");
  }
  nr_sectors_ = bytes / 512;
}

FileBlockDevice::~FileBlockDevice() {
  if (fd_ >= 0) ::close(fd_);
}

void FileBlockDevice::read(uint64_t sector, std::span<std::byte> buf) {
  check_io_range("read", sector, buf.size(), nr_sectors_);
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done,
                        static_cast<off_t>(sector * 512 + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      throw IoError(err, path_ + ": read at sector " + std::to_string(sector) + " failed: " +
                             errno_text(err));
    }
    if (n == 0)
      throw IoError(EIO, path_ + ": unexpected end of file reading sector " +
                             std::to_string(sector));
    done += static_cast<size_t>(n);
  }
}

void FileBlockDevice::write(uint64_t sector, std::span<const std::byte> buf, WriteFlags flags) {
  if (mode_ == Mode::read_only) throw IoError(EPERM, path_ + ": opened read-only");
  check_io_range("write", sector, buf.size(), nr_sectors_);
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pwrite(fd_, buf.data() + done, buf.size() - done,
                         static_cast<off_t>(sector * 512 + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      throw IoError(err, path_ + ": write at sector " + std::to_string(sector) + " failed: " +
                             errno_text(err));
    }
    done += static_cast<size_t>(n);
  }
  if (flags.fua) flush();
}

void FileBlockDevice::flush() {
  if (mode_ == Mode::read_only) return;
  if (::fdatasync(fd_) != 0) {
    int err = errno;
    throw IoError(err, path_ + ": flush failed: " + errno_text(err));
  }
}

void FileBlockDevice::discard(uint64_t sector, uint64_t nr_sectors) {
  if (mode_ == Mode::read_only) throw IoError(EPERM, path_ + ": opened read-only");
  if (sector > nr_sectors_ || nr_sectors > nr_sectors_ - sector)
    throw std::invalid_argument(path_ + ": discard beyond device end");
  if (nr_sectors == 0) return;
  off_t off = static_cast<off_t>(sector * 512), len = static_cast<off_t>(nr_sectors * 512);
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0) return;
  // The file system cannot punch holes: write zeroes so the contract still holds.
  std::vector<std::byte> zero(1 << 20);
  uint64_t left = nr_sectors * 512;
  uint64_t pos = sector * 512;
  while (left) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, zero.size()));
    write(pos / 512, std::span<const std::byte>(zero.data(), n));
    pos += n;
    left -= n;
  }
}

}  // namespace thinsim::pdata
