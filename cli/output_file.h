// An output file that never overwrites without permission and never leaves a partial
// result behind: data goes to a temporary file beside the target, renamed over it only
// on commit(). Without a path, output goes to stdout.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace thinsim::cli {

class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class OutputFile {
 public:
  // Throws OutputError if `path` exists and `overwrite` is false, or it cannot be created.
  OutputFile(std::optional<std::string> path, bool overwrite);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  // Makes the output visible under its final name.
  void commit();

 private:
  std::optional<std::string> path_;
  std::string temp_;
  std::string name_;
  int fd_ = -1;
  bool committed_ = false;
};

// True if path names an existing file system object.
bool path_exists(const std::string& path);

}  // namespace thinsim::cli
