#include "cli/crash_bundle.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/bugzoo/bug_switch.h"
#include "model/bugzoo/fault_point.h"
#include "peer/external_command.h"

namespace thinsim::cli {
namespace {

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

void write_image(const std::filesystem::path& p, uint64_t bytes,
                 const std::vector<std::pair<uint64_t, std::vector<std::byte>>>& extents) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + p.string());
  bool ok = ::ftruncate(fd, off_t(bytes)) == 0;
  for (const auto& [sector, data] : extents)
    ok = ok && ::pwrite(fd, data.data(), data.size(), off_t(sector * 512)) == ssize_t(data.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) throw std::runtime_error("cannot write " + p.string());
}

nlohmann::json contract_json(const sim::DiskContract& c) { return c.describe(); }

}  // namespace

void write_crash_bundle(const std::string& dir, const BundleSource& source, const fault::CrashFailure& f,
                        const std::vector<std::string>& trace) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::create_directories(dir, ec)) throw std::runtime_error("cannot create bundle directory " + dir);
  const fault::ExploreOptions& o = *source.options;
  nlohmann::json j;
  j["format"] = "thinsim-crash-bundle/1";
  j["scenario_file"] = source.scenario_file;
  j["seed"] = o.seed;
  j["bugs"] = bugzoo::enabled_names();
  j["options"] = {{"exhaustive_bound", o.exhaustive_bound}, {"samples", o.samples},
                  {"tear", o.tear.tear_writes}, {"check_model", o.check_model},
                  {"contract", contract_json(o.contract)}};
  nlohmann::json disks = nlohmann::json::object();
  for (const auto& [name, c] : o.disk_contracts) disks[name] = contract_json(c);
  j["options"]["disk_contracts"] = disks;
  nlohmann::json points = nlohmann::json::array();
  for (const auto& [point, after] : o.fault_points) points.push_back({{"point", unsigned(point)}, {"after", after}});
  j["options"]["fault_points"] = points;
  j["failure"] = {{"oracle", f.oracle}, {"message", f.message}, {"io", f.seq}, {"step", f.step},
                  {"where", harness::to_string(f.where)}, {"command", f.command},
                  {"choices", f.choices}, {"crash", f.plan}, {"survivors", f.survivors},
                  {"survivors_before_minimising", f.survivors_before_minimising},
                  {"seconds_to_detection", f.seconds_to_detection}};
  if (f.second_seq)
    j["failure"]["second_crash"] = {{"io", f.second_seq}, {"choices", f.second_choices}, {"crash", f.second_plan}};
  if (o.recovery_contract) j["options"]["recovery_contract"] = contract_json(*o.recovery_contract);
  if (!source.original_text.empty())
    j["minimised"] = {{"steps_before", source.steps_before}, {"steps_after", source.steps_after},
                      {"explorations", source.minimise_trials},
                      {"budget_exhausted", source.minimise_budget_exhausted}};
  j["replay"] = "thinsim replay " + peer::shell_quote(dir);  // the bundle re-enables the bugs
  write_text(fs::path(dir) / "crash.json", j.dump(2) + "\n");
  write_text(fs::path(dir) / "scenario.scn", source.scenario_text);
  if (!source.original_text.empty()) write_text(fs::path(dir) / "original.scn", source.original_text);
  std::string t;
  for (const std::string& line : trace) t += line + "\n";
  write_text(fs::path(dir) / "trace.txt", t);
  std::string io;
  for (const std::string& line : f.io_trace) io += line + "\n";
  write_text(fs::path(dir) / "io-trace.txt", io);
  if (!f.metadata_image.empty())
    write_image(fs::path(dir) / "metadata.img", f.metadata_image.size(), {{0, f.metadata_image}});
  if (f.data_sectors) write_image(fs::path(dir) / "data.img", f.data_sectors * 512, f.data_extents);
  if (!f.recovery_scenario.empty()) write_text(fs::path(dir) / "recovery.scn", f.recovery_scenario);
  write_text(fs::path(dir) / "expected.xml", f.expected_xml);
  write_text(fs::path(dir) / "recovered.xml", f.recovered_xml);
}

LoadedBundle load_crash_bundle(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path json_path = fs::path(dir) / "crash.json";
  std::ifstream in(json_path);
  if (!in) throw std::runtime_error("cannot read " + json_path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    if (j.at("format") != "thinsim-crash-bundle/1") throw std::runtime_error("unknown format");
    LoadedBundle b;
    b.scenario_path = (fs::path(dir) / "scenario.scn").string();
    b.options.seed = j.at("seed").get<uint64_t>();
    if (j.contains("bugs") && !j.at("bugs").get<std::string>().empty()) b.bugs = {j.at("bugs").get<std::string>()};
    const auto& o = j.at("options");
    b.options.exhaustive_bound = o.at("exhaustive_bound").get<uint64_t>();
    b.options.samples = o.at("samples").get<uint32_t>();
    b.options.tear.tear_writes = o.at("tear").get<bool>();
    b.options.check_model = o.at("check_model").get<bool>();
    b.options.contract = sim::parse_contract(o.at("contract").get<std::string>());
    for (const auto& [name, c] : o.at("disk_contracts").items())
      b.options.disk_contracts[name] = sim::parse_contract(c.get<std::string>());
    if (o.contains("fault_points"))
      for (const auto& p : o.at("fault_points")) {
        const unsigned point = p.at("point").get<unsigned>();
        if (point >= bugzoo::kFaultPointCount) throw std::runtime_error("unknown fault point");
        b.options.fault_points.emplace_back(bugzoo::FaultPoint(point), p.at("after").get<uint64_t>());
      }
    const auto& f = j.at("failure");
    b.choice.seq = f.at("io").get<uint64_t>();
    b.choice.choices = f.at("choices").get<std::vector<uint32_t>>();
    if (f.contains("second_crash")) {
      b.choice.second_seq = f.at("second_crash").at("io").get<uint64_t>();
      b.choice.second_choices = f.at("second_crash").at("choices").get<std::vector<uint32_t>>();
      if (b.choice.second_seq == 0) throw std::runtime_error("second_crash.io is 0");
    }
    if (o.contains("recovery_contract"))
      b.options.recovery_contract = sim::parse_contract(o.at("recovery_contract").get<std::string>());
    b.oracle = f.at("oracle").get<std::string>();
    b.message = f.at("message").get<std::string>();
    return b;
  } catch (const std::exception& e) {
    throw std::runtime_error(json_path.string() + ": " + e.what());
  }
}

}  // namespace thinsim::cli
