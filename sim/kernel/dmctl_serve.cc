#include "sim/kernel/dmctl_serve.h"

#include <fcntl.h>
#include <linux/nbd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "model/pdata/file_block_device.h"
#include "sim/kernel/nbd_server.h"
#include "sim/kernel/served_disk.h"

namespace thinsim::dmctl {
namespace {

constexpr const char* kDir = "/tmp/nbd";
constexpr int kDevices = 16;  // nbds_max: the served disks of every lane at once
constexpr size_t kMaxLine = 4096;

struct Failed {
  int err;
};

[[noreturn]] void fail(const std::string& what, int err = errno) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), std::strerror(err));
  throw Failed{err ? err : EIO};
}

std::string ctl_path(const std::string& name) { return std::string(kDir) + "/" + name + ".ctl"; }
std::string link_path(const std::string& name) { return std::string(kDir) + "/" + name; }
std::string claim_path(int i) { return std::string(kDir) + "/claim." + std::to_string(i); }

// The nbd module, loaded the first time a case serves a disk (not at every boot).
void load_nbd() {
  if (::access("/sys/module/nbd", F_OK) == 0) return;
  const int fd = ::open("/lib/modules/nbd.ko", O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open /lib/modules/nbd.ko");
  const long r = ::syscall(SYS_finit_module, fd, ("nbds_max=" + std::to_string(kDevices) + " max_part=0").c_str(), 0);
  const int err = errno;
  ::close(fd);
  if (r != 0 && err != EEXIST) fail("load nbd.ko", err);
}

// A free device: the claim file is an O_EXCL create, so two lanes never share one.
int claim_device() {
  for (int i = 0; i < kDevices; ++i) {
    const int fd = ::open(claim_path(i).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return i;
    }
    if (errno != EEXIST) fail("claim " + claim_path(i));
  }
  fail("no free nbd device", EBUSY);
}

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) fail("socket path " + path, ENAMETOOLONG);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

void write_text(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += size_t(n);
  }
}

// Everything up to end of file or a newline, at most kMaxLine bytes.
std::string read_line(int fd) {
  std::string s;
  char c;
  while (s.size() < kMaxLine) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    s += c;
  }
  return s;
}

bool write_sysfs(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, value.data(), value.size()) == ssize_t(value.size());
  ::close(fd);
  return ok;
}

bool device_live(int index) {
  const int fd = ::open(("/sys/block/nbd" + std::to_string(index) + "/size").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 && std::strtoull(buf, nullptr, 10) > 0;
}

struct Daemon {
  std::string name;
  int index, nbd, sock, listen_fd, ready;
  pid_t runner;  // the process inside NBD_DO_IT
};

// The daemon's life after the device is live: requests and control lines until the
// disconnect, then the media settled and everything released. Never returns.
[[noreturn]] void run_daemon(Daemon d, kernel::ServedDisk& disk) {
  int stopper = -1;
  int code = 0;
  try {
    kernel::NbdServer server(d.sock, disk);
    for (bool more = true; more;) {
      pollfd fds[2] = {{d.sock, POLLIN, 0}, {stopper < 0 ? d.listen_fd : -1, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
      }
      // A request that arrived with the control line came first: serve it before.
      if (fds[0].revents) more = server.serve_one();
      if (more && fds[1].revents & POLLIN) {
        const int c = ::accept4(d.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        const std::string line = read_line(c);
        if (line == "stop") {
          stopper = c;  // answered once the device is released
          if (::ioctl(d.nbd, NBD_DISCONNECT) != 0) more = false;
          continue;
        }
        try {
          disk.apply(line);
          write_text(c, "ok\n");
        } catch (const std::exception& e) {
          write_text(c, std::string("err ") + e.what() + "\n");
        }
        ::close(c);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dmctl serve %s: %s\n", d.name.c_str(), e.what());
    code = 1;
  }
  ::close(d.sock);
  int status = 0;
  ::waitpid(d.runner, &status, 0);
  try {
    disk.settle();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dmctl serve %s: settling the media: %s\n", d.name.c_str(), e.what());
    code = 1;
  }
  ::close(d.nbd);
  ::unlink(ctl_path(d.name).c_str());
  ::unlink(link_path(d.name).c_str());
  ::unlink(claim_path(d.index).c_str());
  if (stopper >= 0) write_text(stopper, code ? "err the server failed (see the console)\n" : "ok\n");
  ::_exit(code);
}

// The daemon's start: the device goes live under NBD_DO_IT in a child, then the daemon
// tells `dmctl serve` through the ready pipe.
[[noreturn]] void start_daemon(Daemon d, std::unique_ptr<kernel::ServedDisk> disk, int other_end) {
  ::setsid();
  const int null = ::open("/dev/null", O_RDWR);
  ::dup2(null, 0);
  ::dup2(null, 1);
  const int console = ::open("/dev/console", O_WRONLY | O_NOCTTY);
  ::dup2(console >= 0 ? console : null, 2);
  ::close(other_end);  // the driver holds its own reference to its end
  d.runner = ::fork();
  if (d.runner == 0) {
    ::close(d.sock);
    ::close(d.listen_fd);
    ::close(d.ready);
    const int r = ::ioctl(d.nbd, NBD_DO_IT);
    (void)::ioctl(d.nbd, NBD_CLEAR_SOCK);
    ::_exit(r == 0 ? 0 : 1);
  }
  std::string why;
  if (d.runner < 0) why = std::string("fork: ") + std::strerror(errno);
  for (int waited = 0; why.empty() && !device_live(d.index); waited += 2) {
    if (waited > 10000) why = "the device did not come up in 10 s";
    ::usleep(2000);
  }
  const std::string dev = "/dev/nbd" + std::to_string(d.index);
  // One request per bio, as the model's disk sees one IO per write: a counted fault then
  // fails the same single block.
  if (why.empty() && !write_sysfs("/sys/block/nbd" + std::to_string(d.index) + "/queue/nomerges", "2"))
    why = "cannot switch off merging on " + dev;
  if (why.empty() && ::symlink(dev.c_str(), link_path(d.name).c_str()) != 0)
    why = "symlink " + link_path(d.name) + ": " + std::strerror(errno);
  write_text(d.ready, why.empty() ? "ok" : why);
  ::close(d.ready);
  if (!why.empty()) {
    (void)::ioctl(d.nbd, NBD_DISCONNECT);
    ::close(d.sock);
    ::_exit(1);
  }
  run_daemon(d, *disk);
}

int request(const std::string& name, const std::string& line) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  const sockaddr_un a = address(ctl_path(name));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    fail("no server for " + name + " (" + ctl_path(name) + ")", err);
  }
  write_text(fd, line + "\n");
  const std::string reply = read_line(fd);
  ::close(fd);
  if (reply == "ok") return 0;
  std::fprintf(stderr, "%s: %s\n", name.c_str(), reply.empty() ? "the server went away" : reply.substr(4).c_str());
  return EINVAL;
}

}  // namespace

int serve(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fprintf(stderr, "dmctl: usage: serve NAME MEDIA\n");
    return EINVAL;
  }
  const std::string& name = args[0];
  try {
    ::mkdir(kDir, 0755);
    load_nbd();
    std::unique_ptr<kernel::ServedDisk> disk;
    try {
      disk = std::make_unique<kernel::ServedDisk>(
          name, std::make_unique<pdata::FileBlockDevice>(args[1], pdata::FileBlockDevice::Mode::read_write));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return EIO;
    }
    Daemon d{name, claim_device(), -1, -1, -1, -1, -1};
    const std::string dev = "/dev/nbd" + std::to_string(d.index);
    auto release = [&] { ::unlink(claim_path(d.index).c_str()); };
    d.nbd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
    if (d.nbd < 0) release(), fail("open " + dev);
    int sv[2], ready[2];
    if (::ioctl(d.nbd, NBD_SET_BLKSIZE, 512ul) != 0 || ::ioctl(d.nbd, NBD_SET_SIZE, disk->nr_sectors() * 512) != 0 ||
        ::ioctl(d.nbd, NBD_SET_FLAGS, static_cast<unsigned long>(kernel::kNbdServerFlags)) != 0 ||
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || ::ioctl(d.nbd, NBD_SET_SOCK, sv[0]) != 0)
      release(), fail("set up " + dev);
    d.sock = sv[1];
    d.listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un a = address(ctl_path(name));
    ::unlink(a.sun_path);
    if (d.listen_fd < 0 || ::bind(d.listen_fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(d.listen_fd, 4) != 0 || ::pipe2(ready, O_CLOEXEC) != 0)
      release(), fail("control socket " + ctl_path(name));
    d.ready = ready[1];
    const pid_t pid = ::fork();
    if (pid < 0) release(), fail("fork");
    if (pid == 0) {
      ::close(ready[0]);
      start_daemon(d, std::move(disk), sv[0]);
    }
    ::close(ready[1]);
    ::close(sv[0]);
    ::close(sv[1]);
    ::close(d.listen_fd);
    ::close(d.nbd);
    std::string said;
    char buf[256];
    for (ssize_t n; (n = ::read(ready[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      said.append(buf, size_t(n));
    }
    ::close(ready[0]);
    if (said == "ok") return 0;
    std::fprintf(stderr, "serve %s: %s\n", name.c_str(), said.empty() ? "the server died" : said.c_str());
    return EIO;
  } catch (const Failed& f) {
    return f.err;
  }
}

// A control line to NAME's daemon, or the usage (`want` arguments) refused.
int to_daemon(const std::vector<std::string>& args, size_t want, const char* usage, const std::string& line) {
  if (args.size() != want) {
    std::fprintf(stderr, "dmctl: usage: %s\n", usage);
    return EINVAL;
  }
  try {
    return request(args[0], line);
  } catch (const Failed& f) {
    return f.err;
  }
}

int fault(const std::vector<std::string>& args) {
  return to_daemon(args, 2, "fault NAME LINE", args.size() == 2 ? args[1] : "");
}

int unserve(const std::vector<std::string>& args) { return to_daemon(args, 1, "unserve NAME", "stop"); }

}  // namespace thinsim::dmctl
