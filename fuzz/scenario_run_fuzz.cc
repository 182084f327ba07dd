// libFuzzer target: operation sequences. The input is scenario text; what parses is run
// through dm core and the pool with the reference model compared after every step, its
// own expectations ignored (the oracle is the model, not the input's claims). A
// divergence between the pool and the reference aborts; so does any exception or crash
// out of the pool. Inputs too large to run quickly are skipped, so the fuzzer explores
// operation orders rather than big IO.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "harness/model_check.h"
#include "harness/scenario_parser.h"
#include "harness/scenario_runner.h"

namespace {

using namespace thinsim::harness;

constexpr size_t kMaxCommands = 300;
constexpr uint64_t kMaxIoSectors = 2048;        // 1 MiB per IO command
constexpr uint64_t kMaxSleepMs = 10ull * 60 * 1000;
constexpr uint64_t kMaxDiskSectors = 1ull << 21;  // 1 GiB: data space maps stay small

bool too_costly(const Command& c) {
  switch (c.kind()) {
    case CommandKind::disk: return c.as<DiskCmd>().size_sectors > kMaxDiskSectors;
    case CommandKind::resize: return c.as<ResizeCmd>().size_sectors > kMaxDiskSectors;
    case CommandKind::create: return c.as<CreateCmd>().table.length > kMaxDiskSectors;
    case CommandKind::reload: return c.as<ReloadCmd>().table.length > kMaxDiskSectors;
    case CommandKind::write: return c.as<WriteCmd>().nr_sectors > kMaxIoSectors;
    case CommandKind::read: return c.as<ReadCmd>().nr_sectors > kMaxIoSectors;
    case CommandKind::discard: return c.as<DiscardCmd>().nr_sectors > kMaxDiskSectors;
    case CommandKind::sleep: return uint64_t(c.as<SleepCmd>().duration.count()) > kMaxSleepMs;
    default: return false;
  }
}

// Messages of the harness about its own limits, not divergences.
bool is_limitation(const std::string& message) { return message.starts_with("check-model:"); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Scenario scenario;
  try {
    scenario = parse_scenario(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.scn");
  } catch (const ScenarioError&) {
    return 0;
  }
  if (scenario.commands.size() > kMaxCommands) return 0;
  for (Command& c : scenario.commands) {
    if (too_costly(c)) return 0;
    c.expect.reset();
  }
  ScenarioRunner runner;
  runner.set_require_success(false);
  ModelCheck check(60'000);
  runner.add_observer(check);
  RunResult r = runner.run(scenario);
  if (!r.passed() && !is_limitation(r.failure->message)) {
    std::fprintf(stderr, "scenario_run_fuzz: %s: %s\n  command: %s\n", to_string(r.failure->where).c_str(),
                 r.failure->message.c_str(), r.failure->command.c_str());
    std::abort();
  }
  return 0;
}
