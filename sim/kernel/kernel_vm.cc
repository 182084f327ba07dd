#include "sim/kernel/kernel_vm.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "peer/external_command.h"

#ifndef THINSIM_SOURCE_DIR
#error "THINSIM_SOURCE_DIR must name the source tree (for sim/kernel/setup-kernel.sh)"
#endif

namespace thinsim::kernel {

namespace fs = std::filesystem;

std::string default_kernel_cache() {
  if (const char* e = std::getenv("THINSIM_KERNEL_CACHE"); e && *e) return e;
  return std::string(THINSIM_SOURCE_DIR) + "/build/kernel";
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string hex8(uint64_t v) {
  char b[9];
  std::snprintf(b, sizeof b, "%08llx", static_cast<unsigned long long>(v));
  return b;
}

void pad4(std::string& s) {
  while (s.size() % 4) s += '\0';
}

std::string newc_entry(const std::string& name, const std::string& data, uint32_t mode, uint32_t ino) {
  std::string s = "070701" + hex8(ino) + hex8(mode) + hex8(0) + hex8(0) + hex8(1) + hex8(0) +
                  hex8(data.size()) + hex8(0) + hex8(0) + hex8(0) + hex8(0) + hex8(name.size() + 1) + hex8(0);
  s += name;
  s += '\0';
  pad4(s);
  s += data;
  pad4(s);
  return s;
}

}  // namespace

std::string newc_archive(const std::string& name, const std::string& content) {
  return newc_entry(name, content, 0100755, 1) + newc_entry("TRAILER!!!", "", 0, 0);
}

KernelSetup prepare_kernel(const std::string& cache_dir, const std::string& log_file) {
  const std::string script = std::string(THINSIM_SOURCE_DIR) + "/sim/kernel/setup-kernel.sh";
  peer::RunOptions opts;
  opts.timeout = std::chrono::minutes(15);
  opts.stdout_file = log_file;
  peer::CommandResult r = peer::run_command({"bash", script, cache_dir}, opts);
  if (!r.ok())
    throw KernelUnavailable("sim/kernel/setup-kernel.sh " + cache_dir + " failed (" + r.status() + "): " +
                            r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0) + " (log: " + log_file + ")");
  KernelSetup s;
  s.cache_dir = cache_dir;
  s.vmlinuz = cache_dir + "/vmlinuz";
  s.initramfs = cache_dir + "/initramfs.cpio.gz";
  std::string v = read_file(cache_dir + "/kernel-version");
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  s.version = v;
  if (!fs::exists(s.vmlinuz) || !fs::exists(s.initramfs) || v.empty())
    throw KernelUnavailable("setup-kernel.sh left no kernel in " + cache_dir);
  if (!peer::find_in_path("qemu-system-x86_64")) throw KernelUnavailable("qemu-system-x86_64 is not installed");
  return s;
}

KernelBatchResult parse_console(const std::string& console, const std::vector<const OracleCase*>& cases) {
  KernelBatchResult r;
  r.cases.resize(cases.size());
  for (size_t k = 0; k < cases.size(); ++k) r.cases[k].steps.resize(cases[k]->run.commands.size());
  std::istringstream in(console);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t at = line.find("ORACLE-");
    if (at == std::string::npos) continue;
    line = line.substr(at);
    std::istringstream w(line);
    std::string tag, where;
    w >> tag;
    if (tag == "ORACLE-READY") {
      w >> r.ready_seconds;
      continue;
    }
    if (tag == "ORACLE-EXIT") {
      r.guest_exited = true;
      continue;
    }
    w >> where;
    if (tag == "ORACLE-B" || tag == "ORACLE-E") {
      size_t k = std::strtoul(where.c_str(), nullptr, 10);
      if (k >= r.cases.size()) continue;
      (tag == "ORACLE-B" ? r.cases[k].begun : r.cases[k].ended) = true;
      continue;
    }
    const size_t dot = where.find('.');
    if (dot == std::string::npos) continue;
    const size_t k = std::strtoul(where.substr(0, dot).c_str(), nullptr, 10);
    const size_t i = std::strtoul(where.substr(dot + 1).c_str(), nullptr, 10);
    if (k >= r.cases.size() || i >= r.cases[k].steps.size()) continue;
    std::string rest;
    std::getline(w, rest);
    if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
    auto& step = r.cases[k].steps[i];
    if (tag == "ORACLE-M") {
      std::istringstream m(rest);
      std::string name, major, minor;
      m >> name >> major >> minor;
      if (!step) step.emplace();
      step->device_numbers[major + ":" + minor] = name;
    } else if (tag == "ORACLE-S") {
      if (!step) step.emplace();
      step->outcome = rest;
    } else if (tag == "ORACLE-C") {
      if (!step) step.emplace();
      step->commits.push_back(rest);
    }
  }
  return r;
}

KernelBatchResult KernelVm::run(const GuestBatch& batch, const std::vector<const OracleCase*>& cases,
                                const std::string& dir, std::chrono::seconds timeout,
                                const CaseEnded& case_ended) const {
  fs::create_directories(dir);
  write_guest_images(batch, cases, dir);
  write_file(dir + "/batch.sh", batch.script);
  // The base initramfs ends 4-byte aligned (build-initramfs.sh), so the batch's
  // uncompressed archive that follows is found.
  write_file(dir + "/initrd", read_file(setup_.initramfs) + newc_archive("batch.sh", batch.script));
  auto drive = [&](const char* img) { return "file=" + dir + "/" + img + ",format=raw,if=virtio,cache=unsafe,discard=unmap"; };
  std::vector<std::string> argv = {
      "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "max", "-m", "512", "-smp", "1",
      "-nographic", "-no-reboot", "-kernel", setup_.vmlinuz, "-initrd", dir + "/initrd",
      "-append", "console=ttyS0 panic=-1 loglevel=4",
      "-drive", drive("disks.img"), "-drive", drive("in.img"), "-drive", drive("out.img")};
  peer::RunOptions opts;
  opts.timeout = timeout;
  opts.stdout_file = dir + "/console.log";
  auto qemu = std::async(std::launch::async, [&] { return peer::run_command(argv, opts); });
  // While it runs, hand over each case that ended (complete console lines only).
  std::vector<bool> handed(cases.size(), false);
  auto hand_over = [&](const KernelBatchResult& now) {
    for (size_t k = 0; k < cases.size(); ++k)
      if (now.cases[k].ended && !handed[k]) {
        handed[k] = true;
        case_ended(k, now.cases[k]);
      }
  };
  while (qemu.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready) {
    if (!case_ended) continue;
    std::string text = read_file(dir + "/console.log");
    const size_t nl = text.rfind('\n');
    text.erase(nl == std::string::npos ? 0 : nl + 1);
    hand_over(parse_console(text, cases));
  }
  peer::CommandResult q = qemu.get();
  KernelBatchResult r = parse_console(read_file(dir + "/console.log"), cases);
  if (case_ended) hand_over(r);
  r.seconds = q.seconds;
  r.console_file = dir + "/console.log";
  if (q.spawn_failed) throw KernelUnavailable("cannot start qemu-system-x86_64: " + q.err);
  if (!r.guest_exited)
    r.problem = q.timed_out ? "the guest did not finish within " + std::to_string(timeout.count()) + " s"
                            : "qemu ended (" + q.status() + ") before the guest finished: " + q.err.substr(0, 500);
  return r;
}

}  // namespace thinsim::kernel
