#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace thinsim::cli {

Progress::Progress(std::string what, uint64_t total, bool quiet)
    : what_(std::move(what)), total_(total), enabled_(!quiet && isatty(STDERR_FILENO)) {}

Progress::~Progress() { finish(); }

void Progress::update(uint64_t done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  if (total_)
    std::fprintf(stderr, "\r%s: %3u%%", what_.c_str(),
                 static_cast<unsigned>(done >= total_ ? 100 : done * 100 / total_));
  else
    std::fprintf(stderr, "\r%s: %llu", what_.c_str(), static_cast<unsigned long long>(done));
  std::fflush(stderr);
}

void Progress::finish() {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace thinsim::cli
