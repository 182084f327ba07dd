// thinsim-conformance: the conformance campaign. Runs N random differential cases of
// thinsim against thin-provisioning-tools and writes
//   DIR/report.json      every case: seed, spec, checks, durations, failures with bundle
//                        paths and replay commands (schema: reports/README.md)
//   DIR/junit.xml        one testcase per case and check
//   DIR/bundles/         one directory per failing case (bundle)
//   DIR/../history.jsonl one line appended per run
// Exit status: 0 all cases pass, 1 a check failed (or the campaign could not run: missing
// tools), 2 usage error (including an existing report directory without --force).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/peer/differential.h"
#include "cli/utc_time.h"
#include "cli/xml_text.h"
#include "peer/peer_tools.h"
#include "tests/peer/thinsim_binary.h"
#include "tests/peer/pool_generator.h"

#ifndef THINSIM_SOURCE_DIR
#define THINSIM_SOURCE_DIR ""
#endif

namespace fs = std::filesystem;
using namespace thinsim::peer;
using thinsim::cli::utc_now;
using thinsim::cli::xml_escape;
using nlohmann::json;

namespace {

json git_revision() {
  std::string src = THINSIM_SOURCE_DIR;
  if (src.empty()) return nullptr;
  RunOptions ro;
  ro.timeout = std::chrono::seconds(10);
  auto r = run_command({"git", "-C", src, "rev-parse", "HEAD"}, ro);
  if (!r.ok()) return nullptr;
  std::string rev = r.out;
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == '\r')) rev.pop_back();
  auto st = run_command({"git", "-C", src, "status", "--porcelain", "--untracked-files=no"}, ro);
  if (st.ok() && !st.out.empty()) rev += "-dirty";
  return rev;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string junit(const std::vector<CaseResult>& cases, double seconds, const std::string& stamp) {
  size_t tests = 0, failures = 0, skipped = 0;
  for (const auto& c : cases)
    for (const auto& k : c.checks) {
      ++tests;
      if (k.status == CheckStatus::fail) ++failures;
      if (k.status == CheckStatus::not_applicable) ++skipped;
    }
  std::ostringstream os;
  char t[32];
  std::snprintf(t, sizeof t, "%.3f", seconds);
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"thinsim-conformance\" tests=\"" << tests << "\" failures=\"" << failures
     << "\" skipped=\"" << skipped << "\" time=\"" << t << "\">\n";
  for (const auto& c : cases) {
    size_t f = c.nr_failed(), s = 0;
    for (const auto& k : c.checks) s += k.status == CheckStatus::not_applicable;
    std::snprintf(t, sizeof t, "%.3f", c.seconds);
    std::string suite = "case." + c.profile + ".seed" + std::to_string(c.seed);
    os << "  <testsuite name=\"" << xml_escape(suite) << "\" tests=\"" << c.checks.size() << "\" failures=\"" << f
       << "\" skipped=\"" << s << "\" time=\"" << t << "\" timestamp=\"" << stamp << "\">\n";
    for (const auto& k : c.checks) {
      std::snprintf(t, sizeof t, "%.3f", k.seconds);
      os << "    <testcase classname=\"" << xml_escape(suite) << "\" name=\"" << xml_escape(k.name) << "\" time=\"" << t
         << "\"";
      if (k.status == CheckStatus::pass) {
        os << "/>\n";
      } else if (k.status == CheckStatus::not_applicable) {
        os << ">\n      <skipped message=\"" << xml_escape(k.message) << "\"/>\n    </testcase>\n";
      } else {
        std::string body = k.message + "\nbundle: " + c.bundle + "\nreplay: " + c.replay + "\n";
        os << ">\n      <failure message=\"" << xml_escape(k.message.substr(0, 500)) << "\">"
           << xml_escape(body) << "</failure>\n    </testcase>\n";
      }
    }
    os << "  </testsuite>\n";
  }
  os << "</testsuites>\n";
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Differential conformance campaign: thinsim against thin-provisioning-tools"};
  size_t nr_seeds = 20;
  std::string seed_text, case_text, out_dir, thinsim_path, profile = "mixed";
  bool force = false, peer_only = false, keep = false, no_damage = false;
  double timeout = 300;
  app.add_option("--seeds", nr_seeds, "Number of random cases")->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--seed", seed_text, "Master seed (decimal or 0x...); default: fresh from std::random_device");
  app.add_option("--case", case_text, "Run exactly one case with this case seed (replay)");
  app.add_option("--profile", profile,
                 "Pool size profile: tiny, small, medium, large, mixed, or preset:NAME (" +
                     [] {
                       std::string s;
                       for (const auto& n : preset_names()) s += (s.empty() ? "" : ", ") + n;
                       return s;
                     }() +
                     ")");
  app.add_option("--out", out_dir, "Report directory (default: reports/run-<UTC time>)");
  app.add_option("--thinsim", thinsim_path, "thinsim binary (default: $THINSIM, else the one built with this)");
  app.add_flag("--force", force, "Overwrite the report files of an existing report directory");
  app.add_flag("--peer-only", peer_only, "Run only the checks that need no thinsim (generator/peer self-test)");
  app.add_flag("--keep", keep, "Keep every case directory, passing ones too");
  app.add_flag("--no-damage", no_damage, "Skip the damaged-image matrix");
  app.add_option("--timeout", timeout, "Per-command timeout in seconds")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  // Validate everything before touching the disk.
  uint64_t master_seed = 0;
  std::vector<uint64_t> case_seeds;
  try {
    spec_for_case(profile, 0);
    if (!case_text.empty()) {
      case_seeds.push_back(parse_seed(case_text));
      master_seed = case_seeds.back();
    } else {
      master_seed = seed_text.empty() ? fresh_seed() : parse_seed(seed_text);
      for (size_t i = 0; i < nr_seeds; ++i) case_seeds.push_back(derive_seed(master_seed, i));
    }
  } catch (const std::exception& e) {
    std::cerr << "thinsim-conformance: " << e.what() << "\n";
    return 2;
  }
  if (out_dir.empty()) out_dir = "reports/run-" + utc_now("%Y%m%dT%H%M%SZ");
  fs::path out = fs::absolute(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  const char* artefacts[] = {"report.json", "junit.xml", "bundles"};
  if (fs::exists(out)) {
    bool has_report = false;
    for (const char* a : artefacts) has_report = has_report || fs::exists(out / a);
    bool empty = fs::is_directory(out) && fs::is_empty(out);
    if (!fs::is_directory(out)) {
      std::cerr << "thinsim-conformance: " << out << " exists and is not a directory\n";
      return 2;
    }
    if (!empty && !force) {
      std::cerr << "thinsim-conformance: report directory " << out
                << " already exists; refusing to overwrite it (use --force)\n";
      return 2;
    }
    if (has_report)
      for (const char* a : artefacts) remove_tree((out / a).string());
  }

  EngineOptions o;
  try {
    o.peers = locate_peer_tools();
    if (!peer_only) o.thinsim = locate_thinsim(thinsim_path);
  } catch (const ToolMissing& e) {
    std::cerr << "thinsim-conformance: " << e.what() << "\n";
    return 1;
  }
  fs::create_directories(out);
  o.work_root = (out / "bundles").string();
  o.damage = !no_damage;
  o.keep_passing = keep;
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
  std::string self = fs::absolute(argv[0]).string();
  {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) self.assign(buf, static_cast<size_t>(n));
  }
  o.replay = [&](uint64_t seed, const std::string& prof) {
    std::vector<std::string> a = {self, "--case", std::to_string(seed), "--profile", prof};
    if (peer_only)
      a.push_back("--peer-only");
    else
      a.insert(a.end(), {"--thinsim", o.thinsim});
    if (no_damage) a.push_back("--no-damage");
    a.insert(a.end(), {"--out", "/tmp/thinsim-replay/" + std::to_string(seed), "--force"});
    return shell_join(a);
  };
  o.log = [](const std::string& line) {
    if (line.rfind("  FAIL", 0) == 0 || line.rfind("  NOTE", 0) == 0) std::cout << line << std::endl;
  };

  std::string started = utc_now("%Y-%m-%dT%H:%M:%SZ");
  std::cout << "thinsim-conformance: master seed " << master_seed << ", " << case_seeds.size() << " case(s), profile "
            << profile << "\n  thinsim: " << (peer_only ? "(peer-only)" : o.thinsim) << "\n  peer: " << o.peers.thin_dump
            << " " << o.peers.version << "\n  out: " << out.string() << std::endl;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<CaseResult> results;
  size_t cases_failed = 0, checks_passed = 0, checks_failed = 0, checks_na = 0, notes = 0;
  for (size_t i = 0; i < case_seeds.size(); ++i) {
    CaseResult r = run_case(o, case_seeds[i], profile);
    checks_passed += r.nr_passed();
    checks_failed += r.nr_failed();
    for (const auto& k : r.checks) checks_na += k.status == CheckStatus::not_applicable;
    notes += r.notes.size();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", r.seconds);
    std::cout << "[" << i + 1 << "/" << case_seeds.size() << "] seed " << r.seed << " " << r.spec.name << " ("
              << r.stats.nr_devices << " devices, " << r.stats.nr_mappings << " mappings): "
              << (r.passed() ? "PASS" : "FAIL") << ", " << r.nr_passed() << " passed, " << r.nr_failed()
              << " failed, " << secs << " s" << std::endl;
    if (!r.passed()) {
      ++cases_failed;
      std::cout << r.failure_report();
    }
    results.push_back(std::move(r));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::error_code ec;  // no bundles: leave no empty directory behind
    if (fs::is_empty(o.work_root, ec)) fs::remove(o.work_root, ec);
  }

  json cases = json::array();
  for (const auto& r : results) cases.push_back(case_to_json(r));
  json failures = json::array();
  for (const auto& r : results)
    for (const auto& k : r.checks)
      if (k.status == CheckStatus::fail)
        failures.push_back({{"seed", r.seed}, {"check", k.name}, {"message", k.message},
                            {"bundle", r.bundle}, {"replay", r.replay}});
  json rev = git_revision();
  json summary = {{"cases", results.size()},        {"cases_passed", results.size() - cases_failed},
                  {"cases_failed", cases_failed},   {"checks_passed", checks_passed},
                  {"checks_failed", checks_failed}, {"checks_not_applicable", checks_na},
                  {"notes", notes}};
  json report = {{"schema", "thinsim-conformance-report/1"},
                 {"started", started},
                 {"finished", utc_now("%Y-%m-%dT%H:%M:%SZ")},
                 {"seconds", seconds},
                 {"git_revision", rev},
                 {"master_seed", master_seed},
                 {"master_seed_text", std::to_string(master_seed)},
                 {"single_case", !case_text.empty()},
                 {"profile", profile},
                 {"thinsim", peer_only ? json(nullptr) : json(o.thinsim)},
                 {"peer", {{"thin_restore", o.peers.thin_restore}, {"thin_check", o.peers.thin_check},
                           {"thin_dump", o.peers.thin_dump}, {"version", o.peers.version}}},
                 {"command", [&] {
                    std::vector<std::string> a(argv, argv + argc);
                    return shell_join(a);
                  }()},
                 {"summary", summary},
                 {"failures", failures},
                 {"cases", cases}};
  try {
    write_file(out / "report.json", report.dump(2) + "\n");
    write_file(out / "junit.xml", junit(results, seconds, started));
    json line = {{"timestamp", started},  {"git_revision", rev},          {"out", out.string()},
                 {"master_seed", master_seed}, {"profile", profile},      {"cases", results.size()},
                 {"cases_passed", results.size() - cases_failed},         {"cases_failed", cases_failed},
                 {"checks_passed", checks_passed}, {"checks_failed", checks_failed}, {"seconds", seconds}};
    std::ofstream hist(out.parent_path() / "history.jsonl", std::ios::app);
    hist << line.dump() << "\n";
    if (!hist) throw std::runtime_error("cannot append to " + (out.parent_path() / "history.jsonl").string());
  } catch (const std::exception& e) {
    std::cerr << "thinsim-conformance: " << e.what() << "\n";
    return 1;
  }
  std::cout << "checks: " << checks_passed << " passed, " << checks_failed << " failed, " << checks_na
            << " not applicable; " << notes << " notes; " << static_cast<int>(seconds) << " s\nreport: "
            << (out / "report.json").string() << "\nconformance: " << results.size() - cases_failed << " passed, "
            << cases_failed << " failed" << std::endl;
  return cases_failed == 0 ? 0 : 1;
}
