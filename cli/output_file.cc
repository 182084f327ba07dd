#include "cli/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace thinsim::cli {

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

OutputFile::OutputFile(std::optional<std::string> path, bool overwrite) : path_(std::move(path)) {
  if (!path_) {
    fd_ = STDOUT_FILENO;
    name_ = "standard output";
    return;
  }
  name_ = *path_;
  if (!overwrite && path_exists(*path_))
    throw OutputError(*path_ + ": already exists (use --force to overwrite it)");
  temp_ = *path_ + ".thinsim-tmp-XXXXXX";
  fd_ = ::mkstemp(temp_.data());
  if (fd_ < 0)
    throw OutputError(*path_ + ": cannot create output: " + std::strerror(errno));
  ::fchmod(fd_, 0644);
}

OutputFile::~OutputFile() {
  if (path_ && fd_ >= 0) ::close(fd_);
  if (path_ && !committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void OutputFile::commit() {
  if (!path_) return;
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    int err = errno;
    fd_ = -1;
    throw OutputError(*path_ + ": cannot write output: " + std::strerror(err));
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), path_->c_str()) != 0)
    throw OutputError(*path_ + ": cannot rename output into place: " + std::strerror(errno));
  committed_ = true;
}

}  // namespace thinsim::cli
