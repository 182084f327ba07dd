#include "bench/child_process.h"

#include <sys/resource.h>

#include <chrono>
#include <fstream>

namespace thinsim::bench {

namespace fs = std::filesystem;

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

// fork() rather than vfork()/posix_spawn(): with a shared address space the child's
// ru_maxrss would start at this process's peak; after fork it starts at the few
// anonymous pages this (small) process has resident.
Sample run(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string out_s = out.string(), err_s = err.string();

  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int o = open(out_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) throw std::runtime_error(std::string("wait4: ") + std::strerror(errno));
  }
  auto end = std::chrono::steady_clock::now();

  Sample s;
  s.wall = std::chrono::duration<double>(end - start).count();
  s.user = seconds(ru.ru_utime);
  s.sys = seconds(ru.ru_stime);
  s.max_rss_kib = ru.ru_maxrss;
  s.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return s;
}

std::string read_head(const fs::path& p, size_t max_bytes) {
  std::ifstream in(p, std::ios::binary);
  std::string s(max_bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max_bytes));
  s.resize(static_cast<size_t>(in.gcount()));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string describe_exit(const Sample& s, const fs::path& err) {
  std::string d = "exit status " + std::to_string(s.exit_code);
  if (s.exit_code == 127) d += " (could not execute)";
  if (s.exit_code > 128) d += " (signal " + std::to_string(s.exit_code - 128) + ")";
  std::string tail = read_head(err, 600);
  if (!tail.empty()) d += ": " + tail;
  return d;
}

}  // namespace thinsim::bench
