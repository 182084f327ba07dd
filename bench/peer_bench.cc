// thinsim-bench: restores, checks and dumps one generated pool with thinsim and with
// the installed thin-provisioning-tools in the same run, verifies that both produce
// correct results, and reports time and memory ratios against the targets of the issue
// (restore and dump at least 2x faster, check at least 5x faster, peak memory no higher).
//
// Every tool runs as a child process; wall time is taken with the steady clock around
// fork..wait4 and peak memory is the child's ru_maxrss. See docs/benchmarks.md.

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cli/utc_time.h"
#include "bench/child_process.h"
#include "bench/pool_shapes.h"
#include "tests/peer/pool_generator.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
namespace peer = thinsim::peer;
using namespace thinsim::bench;

namespace {

// Exit statuses (documented in docs/benchmarks.md).
constexpr int kExitOk = 0;
constexpr int kExitTargetsMissed = 1;  // only with --require-targets
constexpr int kExitVerifyFailed = 2;
constexpr int kExitCannotRun = 3;

// Version 2: input fields from the shared pool generator (v1 had a private generator).
constexpr int kSchemaVersion = 2;

// Empty if equal, else where they first differ.
std::optional<std::string> compare_files(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa) return "cannot open " + a.string();
  if (!fb) return "cannot open " + b.string();
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> ba(kChunk), bb(kChunk);
  uint64_t offset = 0, line = 1;
  for (;;) {
    fa.read(ba.data(), kChunk);
    fb.read(bb.data(), kChunk);
    size_t na = static_cast<size_t>(fa.gcount()), nb = static_cast<size_t>(fb.gcount());
    size_t n = std::min(na, nb);
    auto [pa, pb] = std::mismatch(ba.begin(), ba.begin() + static_cast<std::ptrdiff_t>(n), bb.begin());
    size_t same = static_cast<size_t>(pa - ba.begin());
    line += static_cast<uint64_t>(std::count(ba.begin(), pa, '\n'));
    if (same < n || na != nb) {
      return "first difference at byte " + std::to_string(offset + same) + " (line " + std::to_string(line) + ")";
    }
    offset += n;
    if (na < kChunk) return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------
// Statistics and formatting

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string with_commas(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// The 1-minute load average (0 if unknown).
double load_average() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : 0;
}

// ---------------------------------------------------------------------------------------
// Locating the tools

bool is_executable(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

// PATH first, then the sbin directories, which are not in an unprivileged user's PATH on
// Debian although thin-provisioning-tools installs there.
std::optional<fs::path> find_program(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');) dirs.push_back(d.empty() ? "." : d);
  }
  for (const char* d : {"/usr/local/sbin", "/usr/sbin", "/sbin"}) dirs.push_back(d);
  for (const std::string& d : dirs) {
    fs::path p = fs::path(d) / name;
    if (is_executable(p)) return fs::absolute(p);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// The benchmark

enum Tool { kThinsim = 0, kPeer = 1 };
const char* const kToolKey[] = {"thinsim", "peer"};

struct Command {
  const char* name;          // restore, check, dump
  const char* peer_program;  // thin_restore, ...
  double speedup_target;     // peer time / thinsim time must reach this
};
const std::array<Command, 3> kCommands = {{
    {"restore", "thin_restore", 2.0},
    {"check", "thin_check", 5.0},
    {"dump", "thin_dump", 2.0},
}};
// thinsim peak RSS / peer peak RSS must not exceed this.
constexpr double kMemoryRatioTarget = 1.0;

struct Options {
  uint64_t mappings = 1'000'000;
  uint32_t devices = 0;  // 0: the shape's default
  Shape shape = Shape::random;
  uint64_t seed = 1;
  unsigned repeat = 3;
  uint64_t metadata_size = uint64_t{1} << 30;
  std::string workdir;
  bool keep = false;
  std::string thinsim;
  std::string json_file;
  bool require_targets = false;
  bool peers_only = false;
  bool quiet = false;
  bool cold = false;
};

struct Check {
  std::string name;
  bool passed;
  std::string detail;
};

class Bench {
 public:
  Bench(const Options& opt, fs::path dir, std::string thinsim, std::array<fs::path, 3> peers)
      : opt_(opt), dir_(std::move(dir)), thinsim_(std::move(thinsim)), peers_(std::move(peers)) {
    xml_ = dir_ / "pool.xml";
    meta_[kThinsim] = dir_ / "metadata.thinsim";
    meta_[kPeer] = dir_ / "metadata.peer";
    dump_[kThinsim] = dir_ / "dump.thinsim.xml";
    dump_[kPeer] = dir_ / "dump.peer.xml";
  }

  int execute();

 private:
  bool with_thinsim() const { return !opt_.peers_only; }
  void progress(const std::string& msg) const {
    if (!opt_.quiet) std::fprintf(stderr, "thinsim-bench: %s\n", msg.c_str());
  }
  void generate();
  std::vector<std::string> argv_for(size_t cmd, Tool tool, const fs::path& meta, const fs::path& dump) const;
  void prepare(size_t cmd, Tool tool);
  Sample run_once(size_t cmd, Tool tool, bool timed, const std::string& label);
  void measure(size_t cmd);
  void verify_thinsim_restore();
  void verify_check_detects_damage();
  void record(const std::string& name, bool passed, const std::string& detail = "") {
    checks_.push_back({name, passed, detail});
  }
  void check_exit(const std::string& name, const Sample& s, const fs::path& err) {
    record(name, s.exit_code == 0, s.exit_code == 0 ? "" : describe_exit(s, err));
  }
  json report() const;
  void print_table() const;

  const Options& opt_;
  fs::path dir_;
  std::string thinsim_;
  std::array<fs::path, 3> peers_;
  fs::path xml_;
  std::array<fs::path, 2> meta_, dump_;
  peer::PoolStats pool_;
  uint64_t mappings_per_device_ = 0;
  double generate_seconds_ = 0;
  long spawn_baseline_kib_ = 0;
  std::string peer_version_ = "unknown";
  std::string thinsim_version_ = "unknown";
  double load_start_ = 0, load_end_ = 0;

  // samples_[cmd][tool]: the timed runs.
  std::array<std::array<std::vector<Sample>, 2>, 3> samples_;
  // First failure of a timed run per command and tool, reported once.
  std::map<std::pair<size_t, int>, std::string> run_failures_;
  std::vector<Check> checks_;
};

void Bench::generate() {
  progress("generating about " + with_commas(opt_.mappings) + " mappings (" + shape_name(opt_.shape) + ", " +
           std::to_string(opt_.devices) + " devices) into " + xml_.string());
  auto start = std::chrono::steady_clock::now();
  // In a child process, so that this process stays small (see run()).
  struct Result {
    peer::PoolStats stats;
    uint64_t mappings_per_device;
  };
  Result r = in_child([&] {
    peer::PoolSpec spec = fit(shape_spec(opt_.shape, opt_.devices), opt_.shape, opt_.seed, opt_.mappings);
    return Result{peer::write_pool_xml_file(spec, opt_.seed, xml_.string()), spec.mappings_per_device};
  });
  pool_ = r.stats;
  mappings_per_device_ = r.mappings_per_device;
  generate_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::string> Bench::argv_for(size_t cmd, Tool tool, const fs::path& meta, const fs::path& dump) const {
  std::string c = kCommands[cmd].name;
  if (tool == kThinsim) {
    if (c == "restore") return {thinsim_, "restore", "-q", "-i", xml_, "-o", meta, "--force"};
    if (c == "check") return {thinsim_, "check", "-q", meta};
    return {thinsim_, "dump", meta, "-o", dump};
  }
  std::string p = peers_[cmd];
  // thin_restore -q: without it 0.9.0 draws a progress bar.
  if (c == "restore") return {p, "-q", "-i", xml_, "-o", meta};
  if (c == "check") return {p, "-q", meta};
  return {p, "-o", dump, meta};
}

// Drops one file's pages from the page cache (no root needed, nothing else is touched):
// written back first, then POSIX_FADV_DONTNEED.
void evict(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + p.string() + ": " + std::strerror(errno));
  int r = ::fdatasync(fd);
  int err = errno;
  if (r == 0) {
    err = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    r = err == 0 ? 0 : -1;
  }
  ::close(fd);
  if (r != 0) throw std::runtime_error("cannot drop " + p.string() + " from the page cache: " + std::strerror(err));
}

// Untimed set-up before each run: restore gets a fresh, sparse, preallocated metadata
// file (thin_restore needs one to exist); dump gets no stale output file.
void Bench::prepare(size_t cmd, Tool tool) {
  std::string c = kCommands[cmd].name;
  if (c == "restore") {
    const fs::path& m = meta_[tool];
    fs::remove(m);
    int fd = ::open(m.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(opt_.metadata_size)) != 0) {
      int err = errno;
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot create " + m.string() + ": " + std::strerror(err));
    }
    ::close(fd);
  } else if (c == "dump") {
    fs::remove(dump_[tool]);
  }
  if (opt_.cold) {
    // Both tools read the XML (restore) or the peer-restored metadata (check, dump).
    evict(c == "restore" ? xml_ : meta_[kPeer]);
  }
}

Sample Bench::run_once(size_t cmd, Tool tool, bool timed, const std::string& label) {
  const Command& c = kCommands[cmd];
  prepare(cmd, tool);
  // restore writes each tool's own metadata; check and dump both read the peer's.
  const fs::path& meta = std::string(c.name) == "restore" ? meta_[tool] : meta_[kPeer];
  std::string stem = std::string(c.name) + "." + kToolKey[tool];
  fs::path out = dir_ / (stem + ".stdout"), err = dir_ / (stem + ".stderr");
  Sample s = run(argv_for(cmd, tool, meta, dump_[tool]), out, err);
  std::string who = tool == kThinsim ? "thinsim " + std::string(c.name) : c.peer_program;
  progress(std::string(c.name) + ": " + who + " " + label + " " + fmt("%.3f s", s.wall) + ", " +
           fmt("%.1f MiB", static_cast<double>(s.max_rss_kib) / 1024) +
           (s.exit_code ? ", exit status " + std::to_string(s.exit_code) : ""));
  if (s.exit_code != 0) {
    run_failures_.emplace(std::make_pair(cmd, static_cast<int>(tool)), describe_exit(s, err));
  } else if (std::string(c.name) == "dump") {
    // Every dump, warm-up included, must reproduce the input exactly.
    if (auto diff = compare_files(xml_, dump_[tool])) {
      run_failures_.emplace(std::make_pair(cmd, static_cast<int>(tool) + 2),
                            "output differs from the input XML: " + *diff);
    }
  }
  if (timed) samples_[cmd][tool].push_back(s);
  return s;
}

void Bench::measure(size_t cmd) {
  // The floor of every ru_maxrss: what a child has resident right after fork().
  spawn_baseline_kib_ = std::max(spawn_baseline_kib_, run({"/bin/true"}, "/dev/null", "/dev/null").max_rss_kib);
  std::vector<Tool> tools;
  if (with_thinsim()) tools.push_back(kThinsim);
  tools.push_back(kPeer);
  for (Tool t : tools) run_once(cmd, t, false, "warm-up");
  for (unsigned r = 0; r < opt_.repeat; ++r) {
    // Alternate which tool goes first so neither always runs right after the other.
    std::vector<Tool> order = tools;
    if (r % 2 == 1) std::reverse(order.begin(), order.end());
    for (Tool t : order) run_once(cmd, t, true, "run " + std::to_string(r + 1) + "/" + std::to_string(opt_.repeat));
  }
  const Command& c = kCommands[cmd];
  unsigned runs = opt_.repeat + 1;
  for (Tool t : tools) {
    std::string who = t == kThinsim ? "thinsim " + std::string(c.name) : c.peer_program;
    std::string what = std::string(c.name) == "restore" ? "" : " on the peer-restored metadata";
    auto it = run_failures_.find({cmd, static_cast<int>(t)});
    record(who + what + " exits 0 (" + std::to_string(runs) + " runs)", it == run_failures_.end(),
           it == run_failures_.end() ? "" : it->second);
    if (std::string(c.name) == "dump") {
      auto d = run_failures_.find({cmd, static_cast<int>(t) + 2});
      record(who + " output is byte-identical to the input XML (" + std::to_string(runs) + " runs)",
             it == run_failures_.end() && d == run_failures_.end(),
             d != run_failures_.end() ? d->second : it != run_failures_.end() ? "no output (tool failed)" : "");
    }
  }
}

// thinsim's own metadata must satisfy the real tools, and dump back to the input.
void Bench::verify_thinsim_restore() {
  progress("verifying thinsim's restored metadata with thin_check and thin_dump");
  const fs::path& m = meta_[kThinsim];
  fs::path out = dir_ / "verify.stdout", err = dir_ / "verify.stderr";
  fs::path dump = dir_ / "verify.dump.xml";

  check_exit("thin_check accepts thinsim's restored metadata", run({peers_[1], m}, out, err), err);

  fs::remove(dump);
  Sample s = run({peers_[2], "-o", dump, m}, out, err);
  if (s.exit_code != 0) {
    record("thin_dump of thinsim's restored metadata equals the input XML", false, describe_exit(s, err));
  } else {
    auto diff = compare_files(xml_, dump);
    record("thin_dump of thinsim's restored metadata equals the input XML", !diff, diff.value_or(""));
  }

  check_exit("thinsim check accepts thinsim's restored metadata", run({thinsim_, "check", "-q", m}, out, err), err);

  fs::remove(dump);
  s = run({thinsim_, "dump", m, "-o", dump}, out, err);
  if (s.exit_code != 0) {
    record("thinsim dump of thinsim's restored metadata equals the input XML", false, describe_exit(s, err));
  } else {
    auto diff = compare_files(xml_, dump);
    record("thinsim dump of thinsim's restored metadata equals the input XML", !diff, diff.value_or(""));
  }
  fs::remove(dump);
}

// Indices of the 4 KiB blocks of a (sparse) file that hold a non-zero byte.
std::vector<uint64_t> nonzero_blocks(const fs::path& p) {
  constexpr size_t kBlock = 4096;
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + p.string() + ": " + std::strerror(errno));
  std::vector<uint64_t> blocks;
  std::vector<char> buf(kBlock * 256);
  off_t end = ::lseek(fd, 0, SEEK_END), pos = 0;
  while (pos < end) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;  // only a hole is left
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = end;
    data -= data % static_cast<off_t>(kBlock);
    for (off_t at = data; at < hole;) {
      ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
      if (n <= 0) break;
      for (ssize_t b = 0; b + static_cast<ssize_t>(kBlock) <= n; b += kBlock) {
        const char* blk = buf.data() + b;
        if (std::any_of(blk, blk + kBlock, [](char c) { return c != 0; }))
          blocks.push_back(static_cast<uint64_t>(at + b) / kBlock);
      }
      at += n;
    }
    pos = hole;
  }
  ::close(fd);
  return blocks;
}

void flip_byte(const fs::path& p, uint64_t offset) {
  int fd = ::open(p.c_str(), O_RDWR);
  char c = 0;
  bool ok = fd >= 0 && ::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1;
  c = static_cast<char>(c ^ 0x5a);
  ok = ok && ::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("cannot damage " + p.string());
}

// A check that accepts everything would be very fast: make sure thinsim check rejects
// metadata with one corrupted block that thin_check rejects too.
void Bench::verify_check_detects_damage() {
  progress("verifying that thinsim check rejects damaged metadata");
  const std::string name = "thinsim check rejects metadata with a corrupted block (exit 1)";
  fs::path damaged = dir_ / "metadata.damaged";
  fs::rename(meta_[kThinsim], damaged);
  fs::path out = dir_ / "verify.stdout", err = dir_ / "verify.stderr";
  std::vector<uint64_t> blocks = nonzero_blocks(damaged);
  if (!blocks.empty() && blocks.front() == 0) blocks.erase(blocks.begin());  // keep the superblock
  // Candidates spread over the written blocks, starting in the middle (mostly mapping
  // tree leaves). Damage in a block nobody references is invisible, so the candidate
  // must first make thin_check fail.
  for (size_t attempt = 0; attempt < 8 && !blocks.empty(); ++attempt) {
    uint64_t block = blocks[(blocks.size() / 2 + attempt * blocks.size() / 8) % blocks.size()];
    uint64_t offset = block * 4096 + 100;
    flip_byte(damaged, offset);
    if (run({peers_[1], "-q", damaged}, out, err).exit_code == 0) {
      flip_byte(damaged, offset);  // not referenced: undo and try another block
      continue;
    }
    Sample s = run({thinsim_, "check", "-q", damaged}, out, err);
    record(name, s.exit_code == 1,
           s.exit_code == 1 ? ""
                            : "block " + std::to_string(block) + " damaged: " +
                                  (s.exit_code == 0 ? "thinsim check exited 0" : describe_exit(s, err)));
    return;
  }
  record(name, true, "not tested: found no block whose damage thin_check detects");
}

int Bench::execute() {
  fs::path version_out = dir_ / "version.stdout";
  if (run({peers_[2], "-V"}, version_out, "/dev/null").exit_code == 0) peer_version_ = read_head(version_out, 100);
  if (with_thinsim() && run({thinsim_, "--version"}, version_out, "/dev/null").exit_code == 0)
    thinsim_version_ = read_head(version_out, 100);

  load_start_ = load_average();
  generate();
  progress(fmt("%.1f MB of XML, ", static_cast<double>(pool_.xml_bytes) / 1e6) + with_commas(pool_.nr_mappings) +
           " mappings in " + with_commas(pool_.nr_xml_mappings) + " elements, " + fmt("%.2f s", generate_seconds_));

  measure(0);
  if (with_thinsim()) {
    verify_thinsim_restore();
    verify_check_detects_damage();
  }
  measure(1);
  measure(2);
  load_end_ = load_average();

  print_table();
  if (!opt_.json_file.empty()) {
    std::ofstream out(opt_.json_file);
    out << report().dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + opt_.json_file);
    progress("wrote " + opt_.json_file);
  }

  bool verified = std::all_of(checks_.begin(), checks_.end(), [](const Check& c) { return c.passed; });
  if (!verified) return kExitVerifyFailed;
  if (opt_.require_targets && !report()["targets_met"].get<bool>()) return kExitTargetsMissed;
  return kExitOk;
}

json stats_json(const std::vector<Sample>& v) {
  json j;
  std::vector<double> wall, user, sys, cpu, rss;
  std::vector<long> rss_kib;
  for (const Sample& s : v) {
    wall.push_back(s.wall), user.push_back(s.user), sys.push_back(s.sys), cpu.push_back(s.user + s.sys);
    rss.push_back(static_cast<double>(s.max_rss_kib));
    rss_kib.push_back(s.max_rss_kib);
  }
  j["wall_seconds"] = wall;
  j["user_seconds"] = user;
  j["sys_seconds"] = sys;
  j["max_rss_kib"] = rss_kib;
  j["median_wall_seconds"] = median(wall);
  j["median_user_seconds"] = median(user);
  j["median_sys_seconds"] = median(sys);
  j["median_cpu_seconds"] = median(cpu);
  j["median_max_rss_kib"] = median(rss);
  return j;
}

json Bench::report() const {
  bool verified = std::all_of(checks_.begin(), checks_.end(), [](const Check& c) { return c.passed; });
  json j;
  j["schema_version"] = kSchemaVersion;
  j["timestamp"] = thinsim::cli::utc_now();
  utsname u{};
  ::uname(&u);
  j["host"] = {{"kernel", std::string(u.sysname) + " " + u.release},
               {"machine", u.machine},
               {"cpu", cpu_model()},
               {"online_cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
               {"loadavg_start", load_start_},
               {"loadavg_end", load_end_}};
  j["config"] = {{"mappings", opt_.mappings},
                 {"devices", opt_.devices},
                 {"shape", shape_name(opt_.shape)},
                 {"seed", opt_.seed},
                 {"repeat", opt_.repeat},
                 {"warmup_runs", 1},
                 {"metadata_size_bytes", opt_.metadata_size},
                 {"peers_only", opt_.peers_only},
                 {"page_cache", opt_.cold ? "cold" : "warm"}};
  json tools;
  tools["thinsim"] = with_thinsim() ? json(thinsim_) : json(nullptr);
  tools["thinsim_version"] = with_thinsim() ? json(thinsim_version_) : json(nullptr);
  for (size_t c = 0; c < kCommands.size(); ++c) tools[kCommands[c].peer_program] = peers_[c].string();
  tools["peer_version"] = peer_version_;
  j["tools"] = tools;
  j["input"] = {{"generator", "tests/peer/pool_generator.h"},
                {"mappings_per_device", mappings_per_device_},
                {"xml_bytes", pool_.xml_bytes},
                {"mappings", pool_.nr_mappings},
                {"mapping_elements", pool_.nr_xml_mappings},
                {"shared_mappings", pool_.nr_shared_mappings},
                {"devices", pool_.nr_devices},
                {"snapshots", pool_.nr_snapshots},
                {"max_snapshot_depth", pool_.max_depth},
                {"nr_data_blocks", pool_.nr_data_blocks},
                {"generate_seconds", generate_seconds_}};
  j["spawn_baseline_max_rss_kib"] = spawn_baseline_kib_;

  bool all_met = true;
  json cmds;
  for (size_t c = 0; c < kCommands.size(); ++c) {
    json cj;
    cj["peer_program"] = kCommands[c].peer_program;
    cj["thinsim"] = with_thinsim() ? stats_json(samples_[c][kThinsim]) : json(nullptr);
    cj["peer"] = stats_json(samples_[c][kPeer]);
    cj["speedup_target"] = kCommands[c].speedup_target;
    cj["memory_ratio_target"] = kMemoryRatioTarget;
    if (with_thinsim()) {
      double tt = cj["thinsim"]["median_wall_seconds"], pt = cj["peer"]["median_wall_seconds"];
      double tm = cj["thinsim"]["median_max_rss_kib"], pm = cj["peer"]["median_max_rss_kib"];
      double speedup = tt > 0 ? pt / tt : 0, mem = pm > 0 ? tm / pm : 0;
      bool speed_met = verified && speedup >= kCommands[c].speedup_target;
      bool mem_met = verified && mem <= kMemoryRatioTarget;
      double tc = cj["thinsim"]["median_cpu_seconds"], pc = cj["peer"]["median_cpu_seconds"];
      cj["speedup"] = speedup;
      cj["cpu_speedup"] = tc > 0 ? pc / tc : 0;
      cj["memory_ratio"] = mem;
      cj["speedup_met"] = speed_met;
      cj["memory_met"] = mem_met;
      cj["met"] = speed_met && mem_met;
      all_met = all_met && speed_met && mem_met;
    } else {
      for (const char* k : {"speedup", "cpu_speedup", "memory_ratio", "speedup_met", "memory_met", "met"})
        cj[k] = nullptr;
    }
    cmds[kCommands[c].name] = cj;
  }
  j["commands"] = cmds;
  json checks = json::array();
  for (const Check& c : checks_) checks.push_back({{"name", c.name}, {"passed", c.passed}, {"detail", c.detail}});
  j["verification"] = {{"passed", verified}, {"checks", checks}};
  j["targets_met"] = with_thinsim() ? json(verified && all_met) : json(nullptr);
  return j;
}

void Bench::print_table() const {
  json r = report();
  std::printf("\nthinsim-bench: %s mappings in %llu devices, shape %s, seed %llu\n",
              with_commas(pool_.nr_mappings).c_str(), static_cast<unsigned long long>(pool_.nr_devices),
              shape_name(opt_.shape), static_cast<unsigned long long>(opt_.seed));
  std::printf("  input  %s (%.1f MB, %s mapping elements, %s data blocks,\n"
              "         %llu snapshots, deepest chain %llu, %s mappings shared with an origin)\n",
              xml_.c_str(), static_cast<double>(pool_.xml_bytes) / 1e6, with_commas(pool_.nr_xml_mappings).c_str(),
              with_commas(pool_.nr_data_blocks).c_str(), static_cast<unsigned long long>(pool_.nr_snapshots),
              static_cast<unsigned long long>(pool_.max_depth), with_commas(pool_.nr_shared_mappings).c_str());
  std::string ts = with_thinsim() ? thinsim_version_ + " (" + thinsim_ + ")" : "not run (--peers-only)";
  std::printf("  tools  thinsim %s\n         thin-provisioning-tools %s (%s)\n", ts.c_str(), peer_version_.c_str(),
              peers_[0].parent_path().c_str());
  std::printf("  runs   median of %u timed runs per tool after 1 untimed warm-up, tools alternating;\n"
              "         %s; check and dump read the thin_restore-made metadata\n\n",
              opt_.repeat, opt_.cold ? "input dropped from the page cache before every run (--cold)" : "warm page cache");

  std::printf("%-8s %-13s %9s %9s %9s %9s %9s %10s\n", "command", "tool", "wall s", "min s", "max s", "user s",
              "sys s", "max RSS");
  for (size_t c = 0; c < kCommands.size(); ++c) {
    for (int t = 0; t < 2; ++t) {
      if (t == kThinsim && !with_thinsim()) continue;
      const auto& v = samples_[c][t];
      std::vector<double> wall, user, sys, rss;
      for (const Sample& s : v) {
        wall.push_back(s.wall), user.push_back(s.user), sys.push_back(s.sys);
        rss.push_back(static_cast<double>(s.max_rss_kib));
      }
      std::string tool = t == kThinsim ? "thinsim" : kCommands[c].peer_program;
      std::printf("%-8s %-13s %9.3f %9.3f %9.3f %9.3f %9.3f %6.1f MiB\n",
                  (t == 0 || !with_thinsim()) ? kCommands[c].name : "", tool.c_str(), median(wall),
                  wall.empty() ? 0 : *std::min_element(wall.begin(), wall.end()),
                  wall.empty() ? 0 : *std::max_element(wall.begin(), wall.end()), median(user), median(sys),
                  median(rss) / 1024);
    }
  }
  std::printf("(child processes start at %.1f MiB resident: the floor of max RSS)\n",
              static_cast<double>(spawn_baseline_kib_) / 1024);
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (std::max(load_start_, load_end_) > 0.75 * static_cast<double>(cpus)) {
    std::printf("WARNING: busy machine (1-minute load average %.2f at the start, %.2f at the end, %ld CPUs):\n"
                "         wall times and their ratios are unreliable; the CPU speed-up is less affected\n",
                load_start_, load_end_, cpus);
  }
  std::printf("\n");

  if (with_thinsim()) {
    std::printf("%-8s %14s %7s %13s %15s %7s  %s\n", "command", "speed-up", "target", "CPU speed-up",
                "memory ratio", "target", "result");
    std::printf("%-8s %14s %7s %13s %15s\n", "", "(peer/thinsim)", "", "(user+sys)", "(thinsim/peer)");
    for (size_t c = 0; c < kCommands.size(); ++c) {
      const json& cj = r["commands"][kCommands[c].name];
      std::string res = cj["met"].get<bool>() ? "met"
                        : !r["verification"]["passed"].get<bool>()
                            ? "NOT MET (verification failed)"
                            : std::string("NOT MET (") +
                                  (!cj["speedup_met"].get<bool>() && !cj["memory_met"].get<bool>() ? "time, memory"
                                   : !cj["speedup_met"].get<bool>()                               ? "time"
                                                                                                  : "memory") +
                                  ")";
      std::printf("%-8s %13.2fx %7s %12.2fx %15.2f %7s  %s\n", kCommands[c].name, cj["speedup"].get<double>(),
                  fmt(">=%.0fx", kCommands[c].speedup_target).c_str(), cj["cpu_speedup"].get<double>(),
                  cj["memory_ratio"].get<double>(), fmt("<=%.2f", kMemoryRatioTarget).c_str(), res.c_str());
    }
    std::printf("\n");
  }

  bool verified = r["verification"]["passed"];
  size_t failed = std::count_if(checks_.begin(), checks_.end(), [](const Check& c) { return !c.passed; });
  std::printf("verification: %s (%zu of %zu checks passed)\n", verified ? "passed" : "FAILED", checks_.size() - failed,
              checks_.size());
  for (const Check& c : checks_) {
    std::printf("  %-4s %s\n", c.passed ? "ok" : "FAIL", c.name.c_str());
    if (!c.passed) std::printf("       %s\n", c.detail.c_str());
  }
  if (with_thinsim()) {
    std::printf("targets: %s\n", r["targets_met"].get<bool>() ? "all met" : "NOT all met");
  } else {
    std::printf("targets: not evaluated (--peers-only)\n");
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // A fixed threshold (which also turns off glibc's adaptive one): large buffers are
  // always mmap()ed and returned on free, so this process stays small.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  Options opt;
  CLI::App app{
      "Restores, checks and dumps a generated pool with thinsim and with thin-provisioning-tools, "
      "verifies both, and reports the time and memory ratios against the targets.\n"
      "Exit status: 0 ran and verified, 1 a target was missed (only with --require-targets), "
      "2 verification failed, 3 could not run.",
      "thinsim-bench"};
  std::map<std::string, Shape> shapes = {{"random", Shape::random},
                                         {"sequential", Shape::sequential},
                                         {"shared", Shape::shared},
                                         {"mixed", Shape::mixed}};
  app.add_option("--mappings", opt.mappings, "Mapped blocks in the pool, summed over devices (to within 1%)")
      ->capture_default_str();
  app.add_option("--devices", opt.devices, "Thin devices (default: 4, shared 8, mixed 40)")
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--shape", opt.shape,
                 "random: every mapping a <single_mapping>; sequential: long runs, mostly "
                 "<range_mapping>; shared: snapshots of snapshots, data blocks shared by several "
                 "devices; mixed: the generator's one_million preset (runs, snapshots, idle devices)")
      ->transform(CLI::CheckedTransformer(shapes))
      ->default_str("random");
  app.add_option("--seed", opt.seed, "Seed of the pool generator (tests/peer/pool_generator.h)")
      ->capture_default_str();
  app.add_option("--repeat", opt.repeat, "Timed runs per command and tool")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000u));
  app.add_option("--metadata-size", opt.metadata_size, "Size of the (sparse) metadata files, e.g. 1G")
      ->transform(CLI::AsSizeValue(false))
      ->default_str("1G");
  app.add_option("--workdir", opt.workdir,
                 "Directory for the XML, metadata and dumps (kept); default: a fresh temporary directory, "
                 "removed afterwards unless --keep or verification fails");
  app.add_flag("--keep", opt.keep, "Keep the temporary work directory");
  app.add_option("--thinsim", opt.thinsim, "The thinsim binary")->default_str(THINSIM_DEFAULT_PATH);
  app.add_option("--json", opt.json_file, "Also write the results as JSON (schema: docs/benchmarks.md)");
  app.add_flag("--require-targets", opt.require_targets, "Exit with status 1 if any target is missed");
  app.add_flag("--peers-only", opt.peers_only, "Measure only thin-provisioning-tools (no thinsim, no ratios)")
      ->excludes("--require-targets");
  app.add_flag("--cold", opt.cold,
               "Drop the input file (XML or metadata) from the page cache before every run "
               "(posix_fadvise, no root needed); default: warm cache");
  app.add_flag("-q,--quiet", opt.quiet, "No progress messages on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitCannotRun;
  }

  if (opt.devices == 0) opt.devices = default_devices(opt.shape);

  // Tools.
  std::array<fs::path, 3> peers;
  std::vector<std::string> missing;
  for (size_t c = 0; c < kCommands.size(); ++c) {
    auto p = find_program(kCommands[c].peer_program);
    if (p) {
      peers[c] = *p;
    } else {
      missing.push_back(kCommands[c].peer_program);
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    std::fprintf(stderr, "thinsim-bench: thin-provisioning-tools not found: run scripts/setup.sh (missing %s)\n",
                 list.c_str());
    return kExitCannotRun;
  }
  std::string thinsim = opt.thinsim.empty() ? THINSIM_DEFAULT_PATH : opt.thinsim;
  if (!opt.peers_only) {
    if (thinsim.empty() || !is_executable(thinsim)) {
      std::fprintf(stderr,
                   "thinsim-bench: thinsim not found%s%s: build the thinsim target, pass --thinsim PATH, "
                   "or measure the peers alone with --peers-only\n",
                   thinsim.empty() ? "" : " at ", thinsim.c_str());
      return kExitCannotRun;
    }
    thinsim = fs::absolute(thinsim).string();
  }

  // Work directory.
  fs::path dir;
  bool temporary = opt.workdir.empty();
  try {
    if (temporary) {
      const char* tmp = std::getenv("TMPDIR");
      std::string templ = (fs::path(tmp && *tmp ? tmp : "/tmp") / "thinsim-bench.XXXXXX").string();
      if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
      dir = templ;
    } else {
      dir = fs::absolute(opt.workdir);
      fs::create_directories(dir);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thinsim-bench: cannot create the work directory: %s\n", e.what());
    return kExitCannotRun;
  }

  int rc;
  try {
    Bench bench(opt, dir, thinsim, peers);
    rc = bench.execute();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thinsim-bench: %s\n", e.what());
    rc = kExitCannotRun;
  }

  if (temporary) {
    if (opt.keep || rc == kExitVerifyFailed || rc == kExitCannotRun) {
      std::fprintf(stderr, "thinsim-bench: work directory kept: %s\n", dir.c_str());
    } else {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  return rc;
}
