#include "sim/kernel/dmctl_io.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "sim/kernel/decimal.h"

namespace thinsim::dmctl {
namespace {

struct Bad {
  std::string why;
};

uint64_t number(const std::string& s) {
  const std::optional<uint64_t> v = thinsim::kernel::parse_decimal(s);
  if (!v) throw Bad{"not a number: " + s};
  return *v;
}

// An open device, closed on every path out: a descriptor left to _exit is released by
// the kernel's delayed fput, after the parent may already have reported the IO done and
// the script gone on to remove the device (EBUSY).
class Fd {
 public:
  Fd() = default;
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  bool open(const std::string& path, int flags) {
    reset();
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC);
    return fd_ >= 0;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// The IO itself, in the child: 0, or an errno with `text` saying what failed.
int perform(const std::vector<std::string>& op, std::string& text) {
  auto fail = [&](const std::string& what) {
    const int e = errno;
    text = what + ": " + std::strerror(e);
    return e;
  };
  auto open_dev = [&](const std::string& path, int flags, Fd& fd) { return fd.open(path, flags); };
  if (op[0] == "write" || op[0] == "read") {
    if (op.size() != 6 && !(op[0] == "write" && op.size() == 7 && op[6] == "fua")) throw Bad{"bad " + op[0]};
    const uint64_t skip = number(op[2]), seek = number(op[4]), len = number(op[5]);
    void* raw = nullptr;
    if (::posix_memalign(&raw, 4096, len ? len : 4096) != 0) return fail("posix_memalign");
    std::unique_ptr<void, decltype(&std::free)> buf(raw, &std::free);
    Fd in, out;
    if (!open_dev(op[1], O_RDONLY | O_DIRECT, in)) return fail("open " + op[1]);
    // Like dd iflag=fullblock: read until LEN or the end.
    uint64_t got = 0;
    while (got < len) {
      const ssize_t n = ::pread(in.get(), static_cast<char*>(raw) + got, len - got, static_cast<off_t>(skip + got));
      if (n < 0) return fail("error reading '" + op[1] + "'");
      if (n == 0) break;
      got += static_cast<uint64_t>(n);
    }
    in.reset();
    // fua: an O_DSYNC direct write is one bio with REQ_FUA (dio_bio_write_op in
    // block/fops.c), as the model's FUA write is; an fsync after it would flush the
    // whole cache, which a FUA write does not.
    const bool fua = op.size() == 7;
    if (!open_dev(op[3], O_WRONLY | O_DIRECT | (fua ? O_DSYNC : 0), out)) return fail("open " + op[3]);
    for (uint64_t put = 0; put < got;) {
      const ssize_t n = ::pwrite(out.get(), static_cast<char*>(raw) + put, got - put, static_cast<off_t>(seek + put));
      if (n <= 0) return fail("error writing '" + op[3] + "'");
      put += static_cast<uint64_t>(n);
    }
    return 0;
  }
  if (op[0] == "discard") {
    if (op.size() != 4) throw Bad{"bad discard"};
    uint64_t range[2] = {number(op[2]), number(op[3])};
    Fd fd;
    if (!open_dev(op[1], O_RDWR | O_EXCL, fd)) return fail("open " + op[1]);  // as blkdiscard does
    if (::ioctl(fd.get(), BLKDISCARD, range) != 0) return fail(op[1] + ": BLKDISCARD failed");
    return 0;
  }
  if (op[0] == "flush") {
    if (op.size() != 2) throw Bad{"bad flush"};
    Fd fd;
    if (!open_dev(op[1], O_RDONLY | O_NONBLOCK, fd)) return fail("open " + op[1]);  // as sync FILE does
    if (::fsync(fd.get()) != 0) return fail("fsync '" + op[1] + "'");
    return 0;
  }
  throw Bad{"unknown io " + op[0]};
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());  // the script polls for it: all or nothing
  }
}

std::string read_file(const std::string& path) {
  std::string s;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[512];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

}  // namespace

int run_io(const std::vector<std::string>& args, const StatusOf& status_of) {
  try {
    if (args.size() < 5) throw Bad{"io ID IOID TRIES OP ARGS... [commit POOL GUEST]..."};
    const std::string& id = args[0];
    const std::string done_file = "/tmp/io." + args[1];
    const uint64_t tries = number(args[2]);
    std::vector<std::string> op;
    size_t i = 3;
    for (; i < args.size() && args[i] != "commit"; ++i) op.push_back(args[i]);
    std::vector<std::pair<std::string, std::string>> commits;
    for (; i < args.size(); i += 3) {
      if (i + 2 >= args.size() || args[i] != "commit") throw Bad{"commit POOL GUEST expected"};
      commits.emplace_back(args[i + 1], args[i + 2]);
    }
    if (op.empty()) throw Bad{"no io"};

    int pipefd[2];
    if (::pipe(pipefd) != 0) throw Bad{std::string("pipe: ") + std::strerror(errno)};
    std::fflush(stdout);
    const pid_t child = ::fork();
    if (child < 0) throw Bad{std::string("fork: ") + std::strerror(errno)};
    if (child == 0) {
      ::close(pipefd[0]);
      std::string text;
      int rc = 0;
      try {
        rc = perform(op, text) ? 1 : 0;
      } catch (const Bad& b) {
        text = b.why;
        rc = 2;
      }
      write_file(done_file + ".out", text + "\n");
      write_file(done_file, std::to_string(rc) + "\n");
      ::_exit(rc);  // closes the pipe: the parent wakes
    }
    ::close(pipefd[1]);
    pollfd p{pipefd[0], POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(tries * 10));
    const std::string rc = read_file(done_file);
    if (rc.empty()) {
      write_file(done_file + ".queued", "");  // for dmctl steps' settle
      std::printf("ORACLE-S %s queued\n", id.c_str());
    } else if (rc == "0\n") {
      std::printf("ORACLE-S %s ok\n", id.c_str());
    } else {
      std::string text = read_file(done_file + ".out");
      for (char& c : text)
        if (c == '\n') c = ' ';
      std::printf("ORACLE-S %s err %s\n", id.c_str(), text.c_str());
    }
    for (const auto& [pool, guest] : commits)
      if (auto params = status_of(guest)) std::printf("ORACLE-C %s %s %s\n", id.c_str(), pool.c_str(), params->c_str());
    std::fflush(stdout);
    return 0;
  } catch (const Bad& b) {
    std::fprintf(stderr, "dmctl io: %s\n", b.why.c_str());
    return 2;
  }
}

}  // namespace thinsim::dmctl
