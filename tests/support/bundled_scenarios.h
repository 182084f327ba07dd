// For tests over the bundled scenarios: the files, a test name for each, and a failed
// run printed with its trace.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/scenario_runner.h"

namespace thinsim::test_support {

// Every .scn file below dir, sorted.
inline std::vector<std::string> bundled_scenarios(const std::string& dir) {
  std::vector<std::string> files;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().extension() == ".scn") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// "modes_read_only" for .../modes/read-only.scn.
inline std::string scenario_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::filesystem::path p(info.param);
  std::string n = p.parent_path().filename().string() + "_" + p.stem().string();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

// Nothing for a passing run, else the failure's location and message and the trace.
inline std::string failure_of(const harness::RunResult& r) {
  if (r.passed()) return "";
  std::string s = harness::to_string(r.failure->where) + ": " + r.failure->message + "\n";
  for (auto& t : r.trace) s += t + "\n";
  return s;
}

}  // namespace thinsim::test_support
