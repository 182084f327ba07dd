#include "cli/scenario_report.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "cli/xml_text.h"

namespace thinsim::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string bundle_name(const std::string& file, size_t index) {
  std::string stem = fs::path(file).stem().string();
  for (char& c : stem)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  return "scenario-" + std::to_string(index) + "-" + stem;
}

// The trace, the failure and the replay command, and the peer check's images moved in.
std::string write_bundle(const fs::path& dir, ScenarioOutcome& o, size_t index) {
  const fs::path b = dir / "bundles" / bundle_name(o.file, index);
  fs::create_directories(b);
  std::string trace;
  for (const std::string& t : o.trace) trace += t + "\n";
  write_file(b / "trace.txt", trace);
  write_file(b / "failure.txt", o.where + ": " + o.message + "\ncommand: " + o.command + "\n");
  write_file(b / "replay.txt", o.replay + "\n");
  fs::copy_file(o.file, b / fs::path(o.file).filename(), fs::copy_options::overwrite_existing);
  if (o.peer_dir && fs::is_directory(*o.peer_dir)) {
    fs::copy(*o.peer_dir, b / "peer", fs::copy_options::recursive);
    fs::remove_all(*o.peer_dir);
    o.peer_dir = (b / "peer").string();
  }
  return b.string();
}

std::string junit(const ScenarioRunInfo& run, const std::vector<ScenarioOutcome>& outcomes,
                  const std::vector<std::string>& bundles) {
  size_t failures = 0;
  for (const auto& o : outcomes) failures += !o.passed;
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"thinsim-scenarios\" tests=\""
     << outcomes.size() << "\" failures=\"" << failures << "\" time=\"" << run.seconds << "\">\n"
     << "  <testsuite name=\"scenarios\" tests=\"" << outcomes.size() << "\" failures=\"" << failures
     << "\" timestamp=\"" << xml_escape(run.started) << "\" time=\"" << run.seconds << "\">\n";
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const ScenarioOutcome& o = outcomes[i];
    os << "    <testcase classname=\"scenarios\" name=\"" << xml_escape(o.file) << "\" time=\"" << o.seconds
       << "\"";
    if (o.passed) {
      os << "/>\n";
      continue;
    }
    const std::string body = o.where + ": " + o.message + "\ncommand: " + o.command + "\nbundle: " +
                             bundles[i] + "\nreplay: " + o.replay;
    os << ">\n      <failure message=\"" << xml_escape(o.message.substr(0, 500)) << "\">"
       << xml_escape(body) << "</failure>\n    </testcase>\n";
  }
  os << "  </testsuite>\n</testsuites>\n";
  return os.str();
}

}  // namespace

void write_scenario_report(const std::string& dir_name, const ScenarioRunInfo& run,
                           std::vector<ScenarioOutcome>& outcomes) {
  const fs::path dir(dir_name);
  fs::create_directories(dir);
  std::vector<std::string> bundles(outcomes.size());
  json cases = json::array();
  size_t failed = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    ScenarioOutcome& o = outcomes[i];
    json c = {{"file", o.file}, {"status", o.passed ? "pass" : "fail"}, {"steps", o.steps},
              {"seconds", o.seconds}};
    if (run.check_peer) c["commits_checked"] = o.commits_checked;
    if (!o.passed) {
      ++failed;
      bundles[i] = write_bundle(dir, o, i);
      c["failure"] = {{"where", o.where}, {"message", o.message}, {"command", o.command},
                      {"bundle", bundles[i]}, {"replay", o.replay}};
    }
    cases.push_back(std::move(c));
  }
  json report = {{"schema", "thinsim-scenario-report/1"},
                 {"started", run.started},
                 {"seconds", run.seconds},
                 {"check_model", run.check_model},
                 {"check_peer", run.check_peer},
                 {"command", run.command},
                 {"summary", {{"scenarios", outcomes.size()}, {"passed", outcomes.size() - failed}, {"failed", failed}}},
                 {"scenarios", cases}};
  write_file(dir / "scenarios.json", report.dump(2) + "\n");
  write_file(dir / "scenarios-junit.xml", junit(run, outcomes, bundles));
  const fs::path history = fs::absolute(dir).parent_path() / "history.jsonl";
  std::ofstream h(history, std::ios::app);
  h << json{{"kind", "scenarios"}, {"timestamp", run.started}, {"out", dir.string()},
            {"scenarios", outcomes.size()}, {"passed", outcomes.size() - failed}, {"failed", failed},
            {"check_model", run.check_model}, {"check_peer", run.check_peer}, {"seconds", run.seconds}}
           .dump()
    << "\n";
  if (!h) throw std::runtime_error("cannot append to " + history.string());
}

}  // namespace thinsim::cli
