#include "peer/external_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace thinsim::peer {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }


void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace


bool is_executable(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

std::string CommandResult::status() const {
  char buf[128];
  if (spawn_failed) return "could not start: " + err;
  if (timed_out) {
    std::snprintf(buf, sizeof buf, "timed out after %.1f s (killed)", seconds);
    return buf;
  }
  if (exited) return "exit " + std::to_string(exit_code);
  if (term_signal) return "killed by signal " + std::to_string(term_signal) + " (" + strsignal(term_signal) + ")";
  return "unknown status";
}

std::string CommandResult::command_line() const { return shell_join(argv); }

std::string shell_quote(const std::string& w) {
  if (w.empty()) return "''";
  bool plain = true;
  for (char c : w) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./-_", c))) {
      plain = false;
      break;
    }
  }
  if (plain) return w;
  std::string q = "'";
  for (char c : w) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string s;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) s += ' ';
    s += shell_quote(argv[i]);
  }
  return s;
}

std::optional<std::string> find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (is_executable(name)) return name;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  // Debian installs the tools in /usr/sbin, which a plain user's PATH may lack.
  p += ":/usr/sbin:/sbin";
  std::stringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string cand = dir + "/" + name;
    if (is_executable(cand)) return cand;
  }
  return std::nullopt;
}

CommandResult run_command(const std::vector<std::string>& argv, const RunOptions& opts) {
  CommandResult res;
  res.argv = argv;
  if (argv.empty()) throw std::invalid_argument("run_command: empty argv");
  auto start = std::chrono::steady_clock::now();

  int out_pipe[2] = {-1, -1}, err_pipe[2], exec_pipe[2];
  if (!opts.stdout_file && ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe"));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe"));
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe"));
  int out_fd = -1;
  if (opts.stdout_file) {
    out_fd = ::open(opts.stdout_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      res.spawn_failed = true;
      res.err = errno_text(("cannot open " + *opts.stdout_file).c_str());
      return res;
    }
  }

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errno_text("fork"));
  if (pid == 0) {
    // Child: own process group (so a timeout kills everything it started), stdin from
    // /dev/null, stdout/stderr to the pipes. Only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(opts.stdout_file ? out_fd : out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (argv[0].find('/') != std::string::npos)
      ::execv(cargv[0], cargv.data());
    else
      ::execvp(cargv[0], cargv.data());
    int e = errno;
    write_all(exec_pipe[1], reinterpret_cast<const char*>(&e), sizeof e);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, to close the race
  if (out_fd >= 0) ::close(out_fd);
  if (out_pipe[1] >= 0) ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(exec_pipe[1]);

  // exec failure report (the pipe closes on a successful exec).
  int exec_errno = 0;
  {
    ssize_t n;
    do {
      n = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof exec_errno) exec_errno = 0;
    ::close(exec_pipe[0]);
  }

  struct Stream {
    int fd;
    std::string* buf;
    bool truncated = false;
  };
  std::vector<Stream> streams;
  if (out_pipe[0] >= 0) streams.push_back({out_pipe[0], &res.out});
  streams.push_back({err_pipe[0], &res.err});

  auto deadline = start + opts.timeout;
  char chunk[65536];
  while (!streams.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    int wait_ms = static_cast<int>(
        std::min<int64_t>(1000, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
    std::vector<pollfd> fds;
    for (auto& s : streams) fds.push_back({s.fd, POLLIN, 0});
    int r = ::poll(fds.data(), fds.size(), wait_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      ::kill(-pid, SIGKILL);
      break;
    }
    for (size_t i = fds.size(); i-- > 0;) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(streams[i].fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(streams[i].fd);
        streams.erase(streams.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      std::string& b = *streams[i].buf;
      size_t room = b.size() < opts.max_capture ? opts.max_capture - b.size() : 0;
      b.append(chunk, std::min(room, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) > room && !streams[i].truncated) {
        streams[i].truncated = true;
        b.append("\n[... output truncated by the test harness ...]\n");
      }
    }
  }
  for (auto& s : streams) ::close(s.fd);

  // The outputs are closed; the process may still run (it may have closed them itself).
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, res.timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        res.timed_out = true;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        continue;  // now wait blocking
      }
      ::usleep(2000);
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (exec_errno != 0) {
    res.spawn_failed = true;
    res.err = argv[0] + ": " + std::strerror(exec_errno);
    return res;
  }
  if (WIFEXITED(status)) {
    res.exited = true;
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.term_signal = WTERMSIG(status);
  }
  if (res.timed_out) res.exited = false;
  return res;
}

}  // namespace thinsim::peer
