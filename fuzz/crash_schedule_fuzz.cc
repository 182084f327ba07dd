// libFuzzer target: fault schedules. The input picks a small workload, one fault directive
// (which fault, on which disk, after which command, with which parameters), a crash point
// among the run's IOs, and then, byte by byte, which cached writes survive the power cut
// and where they tear (fault::ByteChooser: the third driver of the one chooser
// interface). The crash explorer rebuilds that one state and the oracles judge it; any
// oracle failure, or a divergence from the reference model in a run without media faults,
// aborts with the failure, so the fuzzer keeps the input.
//
// Input: [workload] [fault kind] [fault position] [fault arg: 2 bytes] [crash point: 2
// bytes] [survivor decisions...]. Short inputs read as zeroes: no fault, the first IO.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "fault/crash/crash_explorer.h"
#include "harness/scenario_parser.h"

namespace {

using namespace thinsim;

// Workloads: a pool, a thin volume and IO that commits, shares and frees blocks.
constexpr const char* kWorkloads[] = {
    "disk meta 4M\ndisk data 64M\n"
    "create pool \"0 131072 thin-pool meta data 128 0\"\n"
    "message pool 0 \"create_thin 0\"\ncreate thin \"0 262144 thin pool 0\"\n"
    "write thin 0 128K seed:1\nflush thin\nwrite thin 64K 64K seed:2\nwrite thin 1M 4K seed:3 fua\n"
    "discard thin 0 64K\nflush thin\n",
    "disk meta 4M\ndisk data 64M\n"
    "create pool \"0 131072 thin-pool meta data 128 0\"\n"
    "message pool 0 \"create_thin 0\"\ncreate thin \"0 262144 thin pool 0\"\n"
    "write thin 0 256K seed:1\nsuspend thin\nmessage pool 0 \"create_snap 1 0\"\nresume thin\n"
    "write thin 0 4K seed:2\nflush thin\nmessage pool 0 \"delete 1\"\nwrite thin 512K 64K seed:3\nflush thin\n",
    "disk meta 4M\ndisk data 64M\n"
    "create pool \"0 131072 thin-pool meta data 128 0\"\n"
    "message pool 0 \"create_thin 0\"\nmessage pool 0 \"create_thin 1\"\n"
    "create a \"0 262144 thin pool 0\"\ncreate b \"0 262144 thin pool 1\"\n"
    "write a 0 128K seed:1\nwrite b 0 128K seed:2\nflush a\nmessage pool 0 \"reserve_metadata_snap\"\n"
    "write a 0 64K seed:3\nflush b\nmessage pool 0 \"release_metadata_snap\"\nremove a\nmessage pool 0 \"delete 0\"\n"
    "flush b\n",
};

uint8_t byte_at(std::span<const uint8_t> in, size_t i) { return i < in.size() ? in[i] : 0; }

// The fault directive the input asks for, or "" for none.
std::string fault_line(uint8_t kind, uint16_t arg) {
  const char* disk = (kind & 1) ? "data" : "meta";
  const uint64_t sectors = (kind & 1) ? 131072 : 8192;
  switch ((kind >> 1) % 6) {
    case 0: return "";
    case 1: return std::string("fault ") + disk + " bit-flip " + std::to_string(arg % sectors) + "s " + std::to_string(arg % 4096);
    case 2: return std::string("fault ") + disk + " latent-error " + std::to_string(arg % sectors) + "s";
    case 3: return std::string("fault ") + disk + " lost-writes " + std::to_string(1 + arg % 4);
    case 4: return std::string("fault ") + disk + " misdirected-writes " + std::to_string(1 + arg % 4) + " " +
                   ((arg & 0x100) ? "-" : "") + std::to_string(8 * (1 + arg % 16)) + "s";
    default: return std::string("fault ") + disk + " ignore-flush";
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  std::string text = kWorkloads[byte_at(in, 0) % std::size(kWorkloads)];
  const std::string fault = fault_line(byte_at(in, 1), uint16_t(byte_at(in, 3) << 8 | byte_at(in, 4)));
  if (!fault.empty()) {
    // After the pool exists (line 3) and before the position the input names.
    size_t lines = 0, at = 0;
    const size_t want = 3 + byte_at(in, 2) % 8;
    while (lines < want && (at = text.find('\n', at)) != std::string::npos) ++at, ++lines;
    if (at == std::string::npos) at = text.size();
    text.insert(at, fault + "\n");
  }
  harness::Scenario scenario = harness::parse_scenario(text, "crash-schedule.scn");

  fault::ExploreOptions o;
  o.minimise = false;
  o.check_model = fault.empty();
  const uint64_t io = fault::CrashExplorer::count_io(scenario, o);
  if (io == 0) return 0;
  o.replay = fault::CrashChoice{1 + (uint64_t(byte_at(in, 5)) << 8 | byte_at(in, 6)) % io, {}, 0, {}};
  o.state_bytes = in.size() > 7 ? in.subspan(7) : std::span<const uint8_t>();
  fault::ExploreResult r = fault::CrashExplorer(o).run(scenario);
  if (!r.failures.empty()) {
    const fault::CrashFailure& f = r.failures.front();
    std::fprintf(stderr, "crash-schedule: %s oracle at IO %llu: %s\n--- scenario\n%s", f.oracle.c_str(),
                 static_cast<unsigned long long>(f.seq), f.message.c_str(), text.c_str());
    std::abort();
  }
  // Without media faults the run itself must agree with the reference model; with them a
  // failing IO may make a command fail, which is not a finding.
  if (r.run_failure && fault.empty()) {
    std::fprintf(stderr, "crash-schedule: the run failed at %s: %s\n--- scenario\n%s",
                 harness::to_string(r.run_failure->where).c_str(), r.run_failure->message.c_str(), text.c_str());
    std::abort();
  }
  return 0;
}
