// thinsim-crash-bench: crash states verified per second on small pools (the bundled
// cookbook scenarios), with the dedup ratio. A benchmark, not a test: it prints numbers.
#include <cstdio>
#include <string>
#include <vector>

#include "fault/crash/crash_explorer.h"
#include "harness/scenario_parser.h"

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  if (files.empty()) {
    std::fprintf(stderr, "usage: thinsim-crash-bench SCENARIO...\n");
    return 2;
  }
  uint64_t states = 0, distinct = 0;
  double seconds = 0;
  for (const std::string& f : files) {
    thinsim::fault::CrashExplorer e({});
    thinsim::fault::ExploreResult r = e.run(thinsim::harness::parse_scenario_file(f));
    states += r.states;
    distinct += r.distinct;
    seconds += r.seconds;
    std::printf("%-50s %8llu states %8llu distinct %6.2f s %9.0f states/s %9.0f distinct/s dedup %.2fx%s\n",
                f.c_str(), (unsigned long long)r.states, (unsigned long long)r.distinct, r.seconds,
                double(r.states) / r.seconds, double(r.distinct) / r.seconds,
                double(r.states) / double(r.distinct), r.passed() ? "" : "  FAILED");
  }
  std::printf("total: %llu states (%llu distinct, dedup %.2fx) in %.2f s: %.0f states/s, %.0f distinct verified/s (target 10000)\n",
              (unsigned long long)states, (unsigned long long)distinct, double(states) / double(distinct), seconds,
              double(states) / seconds, double(distinct) / seconds);
  return 0;
}
