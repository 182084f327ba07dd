#include "sim/kernel/dmctl_steps.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "sim/kernel/decimal.h"

namespace thinsim::dmctl {

namespace {

// One of the command's standard descriptors, pointed at a memory file while it runs.
class Redirect {
 public:
  explicit Redirect(int fd) : fd_(fd), saved_(::dup(fd)), file_(::memfd_create("dmctl-steps", MFD_CLOEXEC)) {
    if (saved_ < 0 || file_ < 0 || ::dup2(file_, fd_) < 0)
      throw std::runtime_error(std::string("cannot catch a command's output: ") + std::strerror(errno));
  }
  Redirect(const Redirect&) = delete;
  Redirect& operator=(const Redirect&) = delete;
  ~Redirect() {
    ::dup2(saved_, fd_);
    ::close(saved_);
    ::close(file_);
  }
  std::string text() const {
    std::string s;
    char buf[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(file_, buf, sizeof buf, at);
      if (n <= 0) break;
      s.append(buf, static_cast<size_t>(n));
      at += n;
    }
    return s;
  }

 private:
  int fd_, saved_, file_;
};

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string contents(const std::string& path) {
  std::string s;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[256];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

// A decimal number below 2^63, or nothing.
bool decimal(const std::string& s, long long& v) {
  const std::optional<uint64_t> d = kernel::parse_decimal(s);
  if (!d || *d > static_cast<uint64_t>(INT64_MAX)) return false;
  v = static_cast<long long>(*d);
  return true;
}

// The script's setnow: /proc/uptime's hundredths of a second, in milliseconds.
long long now_ms() {
  const std::string u = contents("/proc/uptime");
  const size_t dot = u.find('.');
  const size_t end = u.find_first_of(" \n", dot == std::string::npos ? 0 : dot);
  long long whole = 0, hundredths = 0;
  if (dot == std::string::npos || !decimal(u.substr(0, dot), whole) ||
      !decimal(u.substr(dot + 1, end == std::string::npos ? std::string::npos : end - dot - 1), hundredths))
    throw std::runtime_error("unreadable /proc/uptime: " + u);
  return (whole * 100 + hundredths) * 10;
}

// What the script's `size` read into a Z variable: the sectors in a /tmp/dmsize file, -1
// for none.
long long size_in(const std::string& file) {
  std::string s = contents(file);
  while (!s.empty() && (s.back() == '\n' || blank(s.back()))) s.pop_back();
  long long v = -1;
  return decimal(s, v) ? v : -1;
}

// The commits an io item's IO arguments end with: POOL GUEST pairs after each "commit".
std::vector<std::pair<std::string, std::string>> commits_in(const std::vector<std::string>& io) {
  std::vector<std::pair<std::string, std::string>> c;
  for (size_t i = 0; i + 2 < io.size(); ++i)
    if (io[i] == "commit") c.emplace_back(io[i + 1], io[i + 2]);
  return c;
}

}  // namespace

Captured capture(const CommandRunner& run, const std::vector<std::string>& command) {
  std::fflush(stdout);
  std::fflush(stderr);
  Captured c;
  Redirect out(1), err(2);
  c.status = run(command);
  std::fflush(stdout);
  std::fflush(stderr);
  c.out = out.text();
  c.err = err.text();
  return c;
}

std::string flat(std::string text) {
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text;
}

std::string rest_after_three_fields(const std::string& out) {
  const std::string line = out.substr(0, out.find('\n'));
  size_t at = 0;
  for (int field = 0; field < 3; ++field) {
    while (at < line.size() && blank(line[at])) ++at;
    while (at < line.size() && !blank(line[at])) ++at;
  }
  while (at < line.size() && blank(line[at])) ++at;
  size_t end = line.size();
  while (end > at && blank(line[end - 1])) --end;
  return line.substr(at, end - at);
}

namespace {

std::string commit_line(const std::string& id, const std::string& pool, const std::string& guest,
                        const CommandRunner& run) {
  const Captured c = capture(run, {"status", guest});
  if (c.status != 0) return "";
  return "ORACLE-C " + id + " " + pool + " " + rest_after_three_fields(c.out) + "\n";
}

// io ID DEV SIZE END ANCHOR IOARGS... (the header's item), with `a` the words after ID.
std::string io_step(const std::string& id, const std::vector<std::string>& a, const CommandRunner& run) {
  const std::string &dev = a[0], &size = a[1], &anchor = a[3];
  long long end = 0;
  if (!decimal(a[2], end)) throw std::invalid_argument("io " + id + ": not a sector: " + a[2]);
  const std::vector<std::string> io(a.begin() + 4, a.end());
  std::string refused;
  struct stat st;
  if (::stat(dev.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    refused = "ORACLE-S " + id + " err no such device: No such device or address\n";
  } else if (size != "-") {
    const long long z = size_in(size);
    if (z >= 0 && end > z) refused = "ORACLE-S " + id + " err attempt to access beyond end of device: Input/output error\n";
  }
  if (!refused.empty()) {
    for (const auto& [pool, guest] : commits_in(io)) refused += commit_line(id, pool, guest, run);
    return refused;
  }
  if (anchor != "-") {
    const size_t colon = anchor.rfind(':');
    long long ms = 0;
    if (colon == std::string::npos || !decimal(anchor.substr(colon + 1), ms))
      throw std::invalid_argument("io " + id + ": not FILE:MS: " + anchor);
    const std::string file = anchor.substr(0, colon);
    if (FILE* f = std::fopen(file.c_str(), "w")) {
      std::fprintf(f, "%lld\n", now_ms() - ms);
      std::fclose(f);
    } else {
      throw std::runtime_error("cannot write " + file + ": " + std::strerror(errno));
    }
  }
  std::vector<std::string> command{"io", id};
  command.insert(command.end(), io.begin(), io.end());
  std::fflush(stdout);
  run(command);  // prints its own lines; its status is in them
  std::fflush(stdout);
  return "";
}

// settle MS IOID...: `ms` is the item's second word (where the others have their step id).
void settle(const std::string& ms, const std::vector<std::string>& ios) {
  long long wait = 0;
  if (!decimal(ms, wait)) throw std::invalid_argument("settle: not milliseconds: " + ms);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
  for (const std::string& io : ios) {
    struct stat st;
    if (::stat(("/tmp/io." + io + ".queued").c_str(), &st) != 0) continue;  // ended within its step
    while (::stat(("/tmp/io." + io).c_str(), &st) != 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

std::string report(const std::vector<std::string>& item, const CommandRunner& run) {
  if (item.size() < 2) throw std::invalid_argument("an item needs a kind and a step id");
  const std::string& kind = item[0];
  const std::string& id = item[1];
  const std::vector<std::string> command(item.begin() + 2, item.end());
  if (kind == "ok" && command.empty()) return "ORACLE-S " + id + " ok\n";
  if (kind == "io" && command.size() >= 5) return io_step(id, command, run);
  if (kind == "settle") return settle(id, command), "";
  if (kind == "list" && command.empty()) {
    const Captured c = capture(run, {"list"});
    std::string lines;
    for (size_t at = 0; at < c.out.size();) {
      const size_t nl = c.out.find('\n', at);
      lines += "ORACLE-M " + id + " " + c.out.substr(at, nl == std::string::npos ? std::string::npos : nl - at) + "\n";
      at = nl == std::string::npos ? c.out.size() : nl + 1;
    }
    return lines;
  }
  if (kind == "commit" && command.size() == 2) return commit_line(id, command[0], command[1], run);
  if ((kind == "run" || kind == "line") && !command.empty()) {
    const Captured c = capture(run, command);
    if (c.status != 0) return "ORACLE-S " + id + " err " + flat(c.err) + "\n";
    if (kind == "run") return "ORACLE-S " + id + " ok\n";
    return "ORACLE-S " + id + " line " + rest_after_three_fields(c.out) + "\n";
  }
  throw std::invalid_argument("not an item: " + kind +
                              " (run ID CMD..., line ID CMD..., commit ID POOL GUEST, ok ID, list ID, io ID DEV SIZE END ANCHOR IO..., "
                              "settle MS IOID...)");
}

int run_steps(const std::vector<std::string>& args, const CommandRunner& run) {
  std::vector<std::string> item;
  for (size_t i = 0; i <= args.size(); ++i) {
    if (i < args.size() && args[i] != "::") {
      item.push_back(args[i]);
      continue;
    }
    try {
      const std::string lines = report(item, run);
      std::fputs(lines.c_str(), stdout);
      std::fflush(stdout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dmctl steps: %s\n", e.what());
      return 2;
    }
    item.clear();
  }
  return 0;
}

}  // namespace thinsim::dmctl
