// dmctl: the oracle guest's device-mapper control tool. It issues the same ioctls as
// dmsetup 1.02.185 for the subset the guest scripts use, prints what dmsetup prints for
// them, and is linked statically: under TCG a dmsetup process costs about 40 ms (most of
// it the dynamic loader's work for libdevmapper and its libraries), this about 3 ms.
//
//   dmctl create NAME --table TABLE | --notable    DM_DEV_CREATE, DM_TABLE_LOAD, resume
//   dmctl reload NAME --table TABLE                DM_TABLE_LOAD
//   dmctl suspend [--noflush] NAME                 DM_DEV_SUSPEND
//   dmctl resume NAME                              DM_DEV_SUSPEND without DM_SUSPEND_FLAG
//   dmctl remove NAME                              DM_DEV_REMOVE
//   dmctl message NAME SECTOR TEXT                 DM_TARGET_MSG
//   dmctl status [--noflush] NAME                  DM_TABLE_STATUS: "start length target params"
//   dmctl table NAME                               the same with DM_STATUS_TABLE_FLAG
//   dmctl list                                     DM_LIST_DEVICES: "name major minor"
//   dmctl events NAME                              DM_DEV_STATUS: the event counter
//   dmctl unused NAME                              fails with EBUSY while the device is open
//                                                  (what thin_check's exclusive open meets)
//   dmctl io ID IOID TRIES OP ARGS...              one IO step with its forced commits
//                                                  (dmctl_io.h)
//   dmctl cut DISK...                              a crash's marks and flush on each
//                                                  journaled disk (log_replay.h)
//   dmctl fsync | replay | flip | unflip |         power cuts, media faults and
//         clear-needs-check ...                    thin_check's flag clearing
//                                                  (dmctl_faults.h)
//   dmctl serve | fault | unserve ...              a disk served over NBD with the
//                                                  model's faults (dmctl_serve.h)
//   dmctl steps ITEM :: ITEM ...                   several steps of the script in one
//                                                  process, each reported as the shell
//                                                  helpers would (dmctl_steps.h)
//   dmctl CMD ARGS :: CMD ARGS :: try CMD ARGS     several commands in one process, each
//                                                  only if those before succeeded; one
//                                                  after `try` runs with its errors
//                                                  unprinted and its failure ignored
//
// create, resume and remove keep /tmp/dmsize/NAME: the device's size in sectors, as
// `blockdev --getsz` gives it (no file: no such device), for the script's `size`, which
// then needs no process of its own.
//
// A failed ioctl prints "device-mapper: OP ioctl on NAME  failed: STRERROR" (dmsetup's
// wording, which the oracle reads the errno from) and exits 1; bad usage exits 2. There
// is no udev in the guest, so the tool keeps /dev/mapper/NAME itself, as dmsetup does
// with DM_DISABLE_UDEV=1.
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kernel/decimal.h"
#include "sim/kernel/dmctl_faults.h"
#include "sim/kernel/dmctl_io.h"
#include "sim/kernel/dmctl_serve.h"
#include "sim/kernel/dmctl_steps.h"
#include "sim/kernel/log_replay.h"

namespace {

constexpr size_t kBufferBytes = 64 << 10;  // room for any status this pool prints

struct Failure {
  int code;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "dmctl: %s\n", why);
  throw Failure{2};
}

struct TargetLine {
  uint64_t start = 0, length = 0;
  std::string type, params;
};

// "start length type params" per line, as dmsetup's --table reads it.
std::vector<TargetLine> parse_table(std::string_view text) {
  std::vector<TargetLine> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string line(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    TargetLine t;
    char type[DM_MAX_TYPE_NAME];
    int used = 0;
    if (std::sscanf(line.c_str(), "%" SCNu64 " %" SCNu64 " %15s %n", &t.start, &t.length, type, &used) != 3)
      usage(("unreadable table line: " + line).c_str());
    t.type = type;
    t.params = line.substr(static_cast<size_t>(used));
    out.push_back(std::move(t));
  }
  return out;
}

// One ioctl's buffer: the header, then the payload at data_start.
class Request {
 public:
  Request(const std::string& name, uint32_t flags) : buf_(kBufferBytes / 8, 0) {
    dm_ioctl* h = header();
    h->version[0] = DM_VERSION_MAJOR;
    h->data_size = kBufferBytes;
    h->data_start = sizeof(dm_ioctl);
    h->flags = flags;
    if (name.size() >= DM_NAME_LEN) usage("device name too long");
    std::memcpy(h->name, name.data(), name.size());
  }
  dm_ioctl* header() { return reinterpret_cast<dm_ioctl*>(buf_.data()); }
  char* data() { return reinterpret_cast<char*>(buf_.data()) + header()->data_start; }
  char* end() { return reinterpret_cast<char*>(buf_.data()) + kBufferBytes; }
  void minor_version(uint32_t v) { header()->version[1] = v; }

  // Targets for DM_TABLE_LOAD: each spec's `next` is the offset of the one after it.
  void add_targets(const std::vector<TargetLine>& targets) {
    char* p = data();
    dm_target_spec* last = nullptr;
    for (const TargetLine& t : targets) {
      const size_t need = sizeof(dm_target_spec) + t.params.size() + 1;
      if (p + need + 8 > end()) usage("table too long");
      auto* spec = reinterpret_cast<dm_target_spec*>(p);
      spec->sector_start = t.start;
      spec->length = t.length;
      std::strncpy(spec->target_type, t.type.c_str(), sizeof(spec->target_type) - 1);
      std::memcpy(p + sizeof(dm_target_spec), t.params.c_str(), t.params.size() + 1);
      char* next = p + (need + 7) / 8 * 8;
      spec->next = static_cast<uint32_t>(next - p);
      last = spec;
      p = next;
    }
    if (last) last->next = 0;
    header()->target_count = static_cast<uint32_t>(targets.size());
  }

  void set_message(uint64_t sector, const std::string& text) {
    auto* m = reinterpret_cast<dm_target_msg*>(data());
    if (data() + sizeof(dm_target_msg) + text.size() + 1 > end()) usage("message too long");
    m->sector = sector;
    std::memcpy(m->message, text.c_str(), text.size() + 1);
  }

 private:
  std::vector<uint64_t> buf_;  // 8-byte aligned, as the specs must be
};

int control_fd() {
  static int fd = -1;
  if (fd >= 0) return fd;
  fd = ::open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    ::mkdir("/dev/mapper", 0755);
    ::mknod("/dev/mapper/control", S_IFCHR | 0600, makedev(10, 236));  // misc, device-mapper
    fd = ::open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    std::fprintf(stderr, "/dev/mapper/control: open failed: %s\n", std::strerror(errno));
    throw Failure{1};
  }
  return fd;
}

// The ioctl, or dmsetup's failure line; returns the errno (0 on success).
int issue(unsigned long cmd, Request& r, const char* op, bool report = true) {
  if (::ioctl(control_fd(), cmd, r.header()) == 0) return 0;
  const int e = errno;
  if (report)
    std::fprintf(stderr, "device-mapper: %s ioctl on %s  failed: %s\n", op, r.header()->name, std::strerror(e));
  return e;
}

std::string node_path(const std::string& name) { return "/dev/mapper/" + name; }

void make_node(const std::string& name, uint64_t dev) {
  const std::string path = node_path(name);
  // The kernel's huge_encode_dev: minor low 8 bits, major, then the minor's high bits.
  const dev_t want = makedev((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00));
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == want) return;
  ::unlink(path.c_str());
  if (::mknod(path.c_str(), S_IFBLK | 0600, want) != 0)
    std::fprintf(stderr, "%s: mknod failed: %s\n", path.c_str(), std::strerror(errno));
}

// /tmp/dmsize/NAME after a change to what NAME is.
void note_size(const std::string& name) {
  const std::string file = "/tmp/dmsize/" + name;
  uint64_t bytes = 0;
  const int fd = ::open(node_path(name).c_str(), O_RDONLY | O_CLOEXEC);
  const bool known = fd >= 0 && ::ioctl(fd, BLKGETSIZE64, &bytes) == 0;
  if (fd >= 0) ::close(fd);
  if (!known) {
    ::unlink(file.c_str());
    return;
  }
  ::mkdir("/tmp/dmsize", 0755);
  if (FILE* f = std::fopen(file.c_str(), "w")) {
    std::fprintf(f, "%" PRIu64 "\n", bytes / 512);
    std::fclose(f);
  }
}

int load(const std::string& name, const std::vector<TargetLine>& targets) {
  Request r(name, 0);
  r.add_targets(targets);
  return issue(DM_TABLE_LOAD, r, "reload");
}

int resume(const std::string& name) {
  Request r(name, 0);
  if (int e = issue(DM_DEV_SUSPEND, r, "resume")) return e;
  make_node(name, r.header()->dev);
  return 0;
}

int remove(const std::string& name, bool report = true) {
  Request r(name, 0);
  if (int e = issue(DM_DEV_REMOVE, r, "remove", report)) return e;
  ::unlink(node_path(name).c_str());
  return 0;
}

// libdevmapper's create with a table: create, load, resume, and a failed load or resume
// removes the device again (_create_and_load_v4's revert). Without a table it only
// creates the device, and makes no node: the first resume does.
int create(const std::string& name, const std::vector<TargetLine>* targets) {
  Request r(name, 0);
  if (int e = issue(DM_DEV_CREATE, r, "create")) return e;
  if (!targets) return 0;
  int e = load(name, *targets);
  if (!e) e = resume(name);
  if (e) remove(name, false);
  return e;
}

// Each target as dmsetup prints it; `next` counts from the start of the data here.
int print_status(const std::string& name, uint32_t flags, const char* op) {
  Request r(name, flags);
  if (int e = issue(DM_TABLE_STATUS, r, op)) return e;
  const dm_ioctl* h = r.header();
  const char* base = r.data();
  const char* p = base;
  for (uint32_t i = 0; i < h->target_count; ++i) {
    const auto* spec = reinterpret_cast<const dm_target_spec*>(p);
    std::printf("%" PRIu64 " %" PRIu64 " %s %s\n", static_cast<uint64_t>(spec->sector_start),
                static_cast<uint64_t>(spec->length), spec->target_type, p + sizeof(dm_target_spec));
    p = base + spec->next;
  }
  return 0;
}

// The first target's status parameters, quietly (trailing blanks dropped, as the
// script's `read` dropped them).
std::optional<std::string> first_status(const std::string& name) {
  Request r(name, 0);
  if (issue(DM_TABLE_STATUS, r, "status", false) || r.header()->target_count == 0) return std::nullopt;
  std::string params(r.data() + sizeof(dm_target_spec));
  while (!params.empty() && (params.back() == ' ' || params.back() == '\t')) params.pop_back();
  return params;
}

int list_devices() {
  Request r("", 0);
  if (int e = issue(DM_LIST_DEVICES, r, "names")) return e;
  const char* p = r.data();
  for (;;) {
    const auto* n = reinterpret_cast<const dm_name_list*>(p);
    if (n->dev == 0) break;  // no devices at all
    const uint64_t dev = n->dev;
    std::printf("%s %u %u\n", n->name, static_cast<unsigned>((dev >> 8) & 0xfff),
                static_cast<unsigned>((dev & 0xff) | ((dev >> 12) & 0xfff00)));
    if (n->next == 0) break;
    p += n->next;
  }
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) usage("no command (create reload suspend resume remove message status table list events unused io cut fsync replay flip unflip clear-needs-check serve fault unserve)");
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  bool noflush = false;
  if (!args.empty() && args[0] == "--noflush") {
    noflush = true;
    args.erase(args.begin());
  }
  auto want = [&](size_t n) {
    if (args.size() != n) usage(("wrong number of arguments for " + cmd).c_str());
  };
  if (cmd == "create") {
    int e = 0;
    if (args.size() == 2 && args[1] == "--notable") {
      e = create(args[0], nullptr);
    } else {
      want(3);
      if (args[1] != "--table") usage("create NAME --table TABLE | --notable");
      const auto targets = parse_table(args[2]);
      e = create(args[0], &targets);
    }
    note_size(args[0]);
    return e;
  }
  if (cmd == "reload") {
    want(3);
    if (args[1] != "--table") usage("reload NAME --table TABLE");
    return load(args[0], parse_table(args[2]));
  }
  if (cmd == "suspend") {
    want(1);
    Request r(args[0], DM_SUSPEND_FLAG | (noflush ? DM_NOFLUSH_FLAG : 0));
    return issue(DM_DEV_SUSPEND, r, "suspend");
  }
  if (cmd == "resume") {
    want(1);
    const int e = resume(args[0]);
    note_size(args[0]);
    return e;
  }
  if (cmd == "remove") {
    want(1);
    const int e = remove(args[0]);
    note_size(args[0]);
    return e;
  }
  if (cmd == "message") {
    want(3);
    const std::optional<uint64_t> sector = thinsim::kernel::parse_decimal(args[1]);
    if (!sector) usage("message NAME SECTOR TEXT: bad sector");
    Request r(args[0], 0);
    r.minor_version(2);  // DM_TARGET_MSG came with 4.2
    r.set_message(*sector, args[2]);
    if (int e = issue(DM_TARGET_MSG, r, "message")) return e;
    if (r.header()->flags & DM_DATA_OUT_FLAG) std::printf("%s\n", r.data());
    return 0;
  }
  if (cmd == "status") return want(1), print_status(args[0], noflush ? DM_NOFLUSH_FLAG : 0, "status");
  if (cmd == "table") return want(1), print_status(args[0], DM_STATUS_TABLE_FLAG, "table");
  if (cmd == "list") return want(0), list_devices();
  if (cmd == "events") {
    want(1);
    Request r(args[0], 0);
    if (int e = issue(DM_DEV_STATUS, r, "info")) return e;
    std::printf("%u\n", r.header()->event_nr);
    return 0;
  }
  if (cmd == "io") return thinsim::dmctl::run_io(args, first_status);
  if (cmd == "cut") {
    // The crash's cut of each journaled disk in one process (log_replay.h): the mark
    // before the cached writes, a flush that brings them into the log, the crash mark.
    if (args.empty()) usage("cut DISK...");
    auto mark = [](const std::string& name, std::string_view what) {
      Request r(name, 0);
      r.minor_version(2);
      r.set_message(0, "mark " + std::string(what));
      return issue(DM_TARGET_MSG, r, "message");
    };
    for (const std::string& name : args) {
      if (int e = mark(name, thinsim::kernel::kMarkPrecrash)) return e;
      if (int e = thinsim::dmctl::fsync_device({"/dev/mapper/" + name})) return e;
      if (int e = mark(name, thinsim::kernel::kMarkCrash)) return e;
    }
    return 0;
  }
  if (cmd == "fsync") return thinsim::dmctl::fsync_device(args);
  if (cmd == "replay") return thinsim::dmctl::replay(args);
  if (cmd == "flip" || cmd == "unflip") return thinsim::dmctl::flip(args, cmd == "unflip");
  if (cmd == "clear-needs-check") return thinsim::dmctl::clear_needs_check(args);
  if (cmd == "serve") return thinsim::dmctl::serve(args);
  if (cmd == "fault") return thinsim::dmctl::fault(args);
  if (cmd == "unserve") return thinsim::dmctl::unserve(args);
  if (cmd == "unused") {
    want(1);
    Request r(args[0], 0);
    if (int e = issue(DM_DEV_STATUS, r, "info")) return e;
    if (r.header()->open_count == 0) return 0;
    std::fprintf(stderr, "%s: open %d times: %s\n", args[0].c_str(), r.header()->open_count, std::strerror(EBUSY));
    return EBUSY;
  }
  usage(("unknown command " + cmd).c_str());
}

// One command of a chain: its exit status.
int run_one(std::vector<char*> argv) {
  argv.push_back(nullptr);
  try {
    return run(static_cast<int>(argv.size() - 1), argv.data()) == 0 ? 0 : 1;
  } catch (const Failure& f) {
    return f.code;
  }
}

// `try CMD`: CMD with stderr on /dev/null, its status ignored.
void run_quietly(const std::vector<char*>& argv) {
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0) ::dup2(null, 2);
  (void)run_one(argv);
  std::fflush(stderr);
  if (saved >= 0) ::dup2(saved, 2);
  if (saved >= 0) ::close(saved);
  if (null >= 0) ::close(null);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "steps") == 0)
    return thinsim::dmctl::run_steps(std::vector<std::string>(argv + 2, argv + argc),
                                     [&](const std::vector<std::string>& command) {
                                       std::vector<char*> cmd{argv[0]};
                                       for (const std::string& a : command) cmd.push_back(const_cast<char*>(a.c_str()));
                                       return run_one(cmd);
                                     });
  // Under TCG a process costs milliseconds: a chain of commands is one.
  std::vector<char*> cmd{argv[0]};
  for (int i = 1; i <= argc; ++i) {
    if (i < argc && std::strcmp(argv[i], "::") != 0) {
      cmd.push_back(argv[i]);
      continue;
    }
    if (cmd.size() > 1 && std::strcmp(cmd[1], "try") == 0) {
      cmd.erase(cmd.begin() + 1);
      run_quietly(cmd);
    } else if (const int rc = run_one(cmd)) {
      return rc;
    }
    cmd.resize(1);
  }
  return 0;
}
