// Progress for long runs, shown on stderr only when it is a terminal (and not quiet):
// one line rewritten at most ten times a second and erased at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace thinsim::cli {

class Progress {
 public:
  Progress(std::string what, uint64_t total, bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(uint64_t done);
  void set_total(uint64_t total) { total_ = total; }
  void finish();

 private:
  std::string what_;
  uint64_t total_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace thinsim::cli
