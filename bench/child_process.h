// Child processes for thinsim-bench: running a tool with its wall time, CPU time and
// peak memory, and running work in a throwaway child so this process stays small (its
// resident set is the floor of every measured ru_maxrss).
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace thinsim::bench {

struct Sample {
  double wall = 0, user = 0, sys = 0;  // seconds
  long max_rss_kib = 0;
  int exit_code = 0;  // 128 + signal number when killed by a signal
};

// Runs argv[0] (a path) with stdin from /dev/null and stdout/stderr to the given files.
Sample run(const std::vector<std::string>& argv, const std::filesystem::path& out,
           const std::filesystem::path& err);

// The first bytes of a file, trailing blanks trimmed.
std::string read_head(const std::filesystem::path& p, size_t max_bytes = 2000);
// "exit status N (...)" with the start of the tool's stderr.
std::string describe_exit(const Sample& s, const std::filesystem::path& err);

// Runs fn in a forked child and returns its result. Whatever fn allocates dies with the
// child, so this process's resident set (the floor of every measured ru_maxrss) stays
// small. An exception in fn is rethrown here as std::runtime_error with its message.
template <typename Fn>
auto in_child(Fn&& fn) -> decltype(fn()) {
  using T = decltype(fn());
  static_assert(std::is_trivially_copyable_v<T>);
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg;
    char tag = 'E';
    try {
      T value = fn();
      msg.assign(reinterpret_cast<const char*>(&value), sizeof value);
      tag = 'R';
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
      msg = "unknown exception";
    }
    msg.insert(msg.begin(), tag);
    for (size_t off = 0; off < msg.size();) {
      ssize_t w = ::write(fds[1], msg.data() + off, msg.size() - off);
      if (w <= 0) _exit(1);
      off += static_cast<size_t>(w);
    }
    _exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!got.empty() && got[0] == 'R' && got.size() == 1 + sizeof(T)) {
    T value;
    std::memcpy(&value, got.data() + 1, sizeof value);
    return value;
  }
  if (!got.empty() && got[0] == 'E') throw std::runtime_error(got.substr(1));
  throw std::runtime_error("helper process failed (status " + std::to_string(status) + ")");
}

}  // namespace thinsim::bench
