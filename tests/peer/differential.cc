#include "tests/peer/differential.h"
#include "tests/peer/peer_defects.h"

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#ifndef THINSIM_CONFORMANCE_BINARY
#define THINSIM_CONFORMANCE_BINARY "thinsim-conformance"
#endif

namespace thinsim::peer {

namespace fs = std::filesystem;

std::string_view status_name(CheckStatus s) {
  switch (s) {
    case CheckStatus::pass: return "pass";
    case CheckStatus::fail: return "fail";
    case CheckStatus::not_applicable: return "n/a";
  }
  return "?";
}

size_t CaseResult::nr_failed() const {
  return static_cast<size_t>(
      std::count_if(checks.begin(), checks.end(), [](const CheckResult& c) { return c.status == CheckStatus::fail; }));
}

size_t CaseResult::nr_passed() const {
  return static_cast<size_t>(
      std::count_if(checks.begin(), checks.end(), [](const CheckResult& c) { return c.status == CheckStatus::pass; }));
}

std::string CaseResult::failure_report() const {
  std::ostringstream os;
  os << "case seed=" << seed << " profile=" << profile << " (" << spec.name << "): " << nr_failed()
     << " failed check(s)\n";
  for (const auto& c : checks)
    if (c.status == CheckStatus::fail) os << "  FAIL " << c.name << ": " << c.message << "\n";
  if (!bundle.empty()) os << "  bundle: " << bundle << "\n";
  os << "  replay: " << replay << "\n";
  return os.str();
}

// ---------------------------------------------------------------- helpers

uint64_t parse_seed(const std::string& text) {
  std::string t = text;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  if (t.empty()) throw std::invalid_argument("empty seed");
  size_t pos = 0;
  uint64_t v;
  try {
    v = std::stoull(t, &pos, 0);
  } catch (const std::exception&) {
    throw std::invalid_argument("bad seed '" + text + "'");
  }
  if (pos != t.size() || t[0] == '-') throw std::invalid_argument("bad seed '" + text + "'");
  return v;
}

uint64_t fresh_seed() {
  std::random_device rd;
  uint64_t hi = rd(), lo = rd();
  return (hi << 32) ^ lo;
}

std::optional<uint64_t> seed_from_env() {
  const char* s = std::getenv("THINSIM_SEED");
  if (!s || !*s) return std::nullopt;
  return parse_seed(s);
}

std::string make_unique_dir(const std::string& parent, const std::string& prefix) {
  fs::create_directories(parent);
  std::string tmpl = (fs::path(parent) / (prefix + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("cannot create a directory under " + parent);
  return std::string(buf.data());
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

PoolSpec spec_for_case(const std::string& profile, uint64_t seed) {
  const std::string prefix = "preset:";
  if (profile.rfind(prefix, 0) == 0) return preset_spec(profile.substr(prefix.size()));
  return random_spec(parse_profile(profile), seed);
}

bool peer_may_miss(DamageKind k) { return k == DamageKind::ref_count_data; }

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Does `text` (lower case) name block n: the number as a whole token, with the word
// "block" shortly before it on the same line ("block 5", "(block 5)", "for block 5",
// "block out of bounds (5 >= 5)")? Bare numbers such as "1 fatal and 0 non-fatal
// problems" do not count.
bool names_number(const std::string& text, uint64_t n) {
  std::string needle = std::to_string(n);
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    bool left = pos == 0 || !std::isdigit(static_cast<unsigned char>(text[pos - 1]));
    size_t end = pos + needle.size();
    bool right = end >= text.size() || !std::isdigit(static_cast<unsigned char>(text[end]));
    if (!left || !right) continue;
    size_t line_start = text.rfind('\n', pos);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    size_t from = std::max(line_start, pos >= 24 ? pos - 24 : size_t{0});
    if (text.substr(from, pos - from).find("block") != std::string::npos) return true;
  }
  return false;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

std::string first_lines(const std::string& s, size_t max_lines = 3, size_t max_chars = 400) {
  std::string out;
  size_t lines = 0;
  for (size_t i = 0; i < s.size() && out.size() < max_chars; ++i) {
    if (s[i] == '\n') {
      if (++lines >= max_lines) break;
      out += " | ";
      continue;
    }
    out += s[i];
  }
  return out;
}

// The interesting part of a report: thin_check's progress lines are dropped.
std::string report_excerpt(const CommandResult& r) {
  std::string text = r.err + (r.out.empty() ? "" : "\n" + r.out);
  std::istringstream in(text);
  std::string line, keep;
  while (std::getline(in, line)) {
    if (line.rfind("examining ", 0) == 0 || line.rfind("checking space map", 0) == 0) continue;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    keep += line + "\n";
  }
  return first_lines(keep, 4, 500);
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", s);
  return buf;
}

}  // namespace

bool report_names_damage(const Damage& d, const std::string& report_in, std::string& why) {
  std::string report = lower(report_in.substr(0, 1 << 20));
  bool named = false;
  for (uint64_t b : d.name_blocks) named = named || names_number(report, b);
  if (d.superblock_word_names_block0 && report.find("superblock") != std::string::npos) named = true;
  bool problem = false;
  std::stringstream ss(d.problem_pattern);
  std::string word;
  while (std::getline(ss, word, '|'))
    if (!word.empty() && report.find(lower(word)) != std::string::npos) problem = true;
  why.clear();
  if (!named) {
    why = "the report does not name the damaged block (";
    for (size_t i = 0; i < d.name_blocks.size(); ++i) why += (i ? " or " : "") + std::to_string(d.name_blocks[i]);
    why += d.superblock_word_names_block0 ? " or the word 'superblock')" : ")";
  }
  if (!problem) {
    if (!why.empty()) why += "; ";
    why += "the report does not describe " + d.problem_words + " (looked for: " + d.problem_pattern + ")";
  }
  return named && problem;
}

std::optional<std::string> compare_files(const std::string& expected, const std::string& actual) {
  std::ifstream a(expected, std::ios::binary), b(actual, std::ios::binary);
  if (!a) return "cannot read " + expected;
  if (!b) return "cannot read " + actual;
  std::string la, lb;
  uint64_t line = 0;
  auto cut = [](const std::string& s) { return s.size() > 300 ? s.substr(0, 300) + "..." : s; };
  for (;;) {
    bool ga = static_cast<bool>(std::getline(a, la));
    bool gb = static_cast<bool>(std::getline(b, lb));
    ++line;
    if (!ga && !gb) break;
    if (ga != gb)
      return "line " + std::to_string(line) + ": " + (ga ? "expected has '" + cut(la) + "', actual has ended"
                                                          : "actual has extra '" + cut(lb) + "', expected has ended");
    if (la != lb) return "line " + std::to_string(line) + ": expected '" + cut(la) + "', actual '" + cut(lb) + "'";
  }
  std::error_code e1, e2;
  auto sa = fs::file_size(expected, e1), sb = fs::file_size(actual, e2);
  if (!e1 && !e2 && sa != sb)
    return "same lines but sizes differ (" + std::to_string(sa) + " vs " + std::to_string(sb) +
           " bytes: final newline?)";
  return std::nullopt;
}

// ---------------------------------------------------------------- JSON

nlohmann::json spec_to_json(const PoolSpec& s) {
  return {{"name", s.name},
          {"nr_devices", s.nr_devices},
          {"mappings_per_device", s.mappings_per_device},
          {"snapshot_probability", s.snapshot_probability},
          {"keep_probability", s.keep_probability},
          {"prefix_probability", s.prefix_probability},
          {"max_snapshot_depth", s.max_snapshot_depth},
          {"idle_device_probability", s.idle_device_probability},
          {"mean_run_length", s.mean_run_length},
          {"long_run_probability", s.long_run_probability},
          {"long_run_max", s.long_run_max},
          {"data_jump_probability", s.data_jump_probability},
          {"data_stripes", s.data_stripes},
          {"time_step_probability", s.time_step_probability},
          {"max_dev_id", s.max_dev_id},
          {"virtual_blocks", s.virtual_blocks},
          {"data_block_size", s.data_block_size},
          {"data_base", s.data_base},
          {"extra_data_blocks", s.extra_data_blocks},
          {"time_base", s.time_base},
          {"extra_time", s.extra_time},
          {"transaction_base", s.transaction_base},
          {"needs_check", s.needs_check},
          {"version", s.version}};
}

nlohmann::json stats_to_json(const PoolStats& s) {
  return {{"nr_devices", s.nr_devices},
          {"nr_snapshots", s.nr_snapshots},
          {"max_depth", s.max_depth},
          {"nr_mappings", s.nr_mappings},
          {"nr_shared_mappings", s.nr_shared_mappings},
          {"nr_xml_mappings", s.nr_xml_mappings},
          {"nr_data_blocks", s.nr_data_blocks},
          {"max_data_block", s.max_data_block},
          {"max_origin_block", s.max_origin_block},
          {"max_dev_id", s.max_dev_id},
          {"xml_bytes", s.xml_bytes},
          {"time", s.time},
          {"data_block_size", s.data_block_size}};
}

nlohmann::json case_to_json(const CaseResult& c) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& k : c.checks)
    checks.push_back({{"name", k.name},
                      {"status", std::string(status_name(k.status))},
                      {"message", k.message},
                      {"seconds", k.seconds}});
  return {{"seed", c.seed},
          {"seed_text", std::to_string(c.seed)},
          {"profile", c.profile},
          {"passed", c.passed()},
          {"nr_failed", c.nr_failed()},
          {"nr_passed", c.nr_passed()},
          {"seconds", c.seconds},
          {"spec", spec_to_json(c.spec)},
          {"stats", stats_to_json(c.stats)},
          {"checks", checks},
          {"notes", c.notes},
          {"bundle", c.bundle.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.bundle)},
          {"replay", c.replay}};
}

// ---------------------------------------------------------------- the case runner

namespace {

class CaseRunner {
 public:
  CaseRunner(const EngineOptions& o, CaseResult& r, fs::path dir) : o_(o), r_(r), dir_(std::move(dir)) {}

  void log(const std::string& line) {
    if (o_.log) o_.log(line);
  }

  CheckResult& add(const std::string& name, CheckStatus st, const std::string& msg, double seconds) {
    r_.checks.push_back({name, st, msg, seconds});
    if (st == CheckStatus::fail) log("  FAIL " + name + ": " + msg);
    return r_.checks.back();
  }

  void note(const std::string& text) {
    r_.notes.push_back(text);
    log("  NOTE " + text);
  }

  // Runs a command and keeps its command line and outputs in the case's logs/.
  CommandResult run(const std::string& step, const std::vector<std::string>& argv,
                    std::optional<std::string> stdout_file = std::nullopt) {
    RunOptions ro;
    ro.timeout = o_.timeout;
    ro.stdout_file = std::move(stdout_file);
    CommandResult res = run_command(argv, ro);
    fs::path logs = dir_ / "logs";
    fs::create_directories(logs);
    write_text(logs / (step + ".cmd"), res.command_line() + "\n# " + res.status() + ", " +
                                           format_seconds(res.seconds) + " s\n");
    if (!ro.stdout_file) write_text(logs / (step + ".stdout"), res.out);
    write_text(logs / (step + ".stderr"), res.err);
    return res;
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Byte comparison; on a difference also leaves a unified diff in <name>.diff.
  bool same_files(const std::string& check, const std::string& expected, const std::string& actual,
                  const std::string& what, double seconds) {
    auto diff = compare_files(expected, actual);
    if (!diff) {
      add(check, CheckStatus::pass, "", seconds);
      return true;
    }
    std::string diff_file = path(check + ".diff");
    RunOptions ro;
    ro.timeout = std::chrono::seconds(60);
    ro.stdout_file = diff_file;
    run_command({"diff", "-u", expected, actual}, ro);
    add(check, CheckStatus::fail, what + ": " + *diff + " (diff: " + diff_file + ")", seconds);
    return false;
  }

  void run_all();

 private:
  void peer_round_trip();
  std::optional<std::string> known_restore_defect(const CommandResult& rs);
  void direction_a();
  void direction_b();
  void damage_matrix(const std::string& src, const std::string& image, uint64_t stream);
  static std::string variant_suffix(const std::string& option);
  bool compare_checkers(const std::string& name, const std::string& img, const Damage& d, const std::string& option,
                        std::chrono::steady_clock::time_point t0);
  void check_options();
  void clear_needs_check();

  const EngineOptions& o_;
  CaseResult& r_;
  fs::path dir_;
  bool peer_image_ok_ = false;
  bool peer_dump_ok_ = false;
  bool thinsim_image_ok_ = false;
  std::string pc_out_;  // thin_check's stdout on the intact peer image
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void CaseRunner::peer_round_trip() {
  const auto& P = o_.peers;
  auto t0 = std::chrono::steady_clock::now();
  std::string meta = path("peer.meta");
  {
    std::ofstream create(meta, std::ios::binary);
  }
  truncate_image(meta, metadata_size_for(r_.stats));
  auto rs = run("peer.thin_restore", {P.thin_restore, "-i", path("pool.xml"), "-o", meta});
  if (!rs.ok()) {
    // A known thin_restore defect is not a fault of the XML: direction (a) still checks it
    // with thin_check and thin_dump on thinsim's image.
    if (auto defect = known_restore_defect(rs)) {
      add("peer.thin_restore", CheckStatus::not_applicable, *defect, rs.seconds);
      note("peer.thin_restore: " + *defect);
      return;
    }
    add("peer.thin_restore", CheckStatus::fail,
        "thin_restore rejected the generated XML (" + rs.status() + "): " + report_excerpt(rs), rs.seconds);
    return;
  }
  add("peer.thin_restore", CheckStatus::pass, "", rs.seconds);
  {
    std::ifstream xml(path("pool.xml"));
    auto model = replay_thin_restore_ref_counts(xml);
    if (model.outcome() == ThinRestoreRefCountTree::Outcome::loses_ref_count)
      note("peer.thin_restore: accepted XML that the defect model says it cannot restore: " + model.describe());
  }
  auto ck = run("peer.thin_check", {P.thin_check, meta});
  if (!ck.ok()) {
    add("peer.thin_check", CheckStatus::fail,
        "thin_check fails on thin_restore's own metadata (" + ck.status() + "): " + report_excerpt(ck), ck.seconds);
    return;
  }
  add("peer.thin_check", CheckStatus::pass, "", ck.seconds);
  pc_out_ = ck.out;
  peer_image_ok_ = true;
  t0 = std::chrono::steady_clock::now();
  auto dp = run("peer.thin_dump", {P.thin_dump, meta, "-o", path("peer.thin_dump.xml")});
  if (!dp.ok()) {
    add("peer.round_trip", CheckStatus::fail, "thin_dump failed (" + dp.status() + "): " + report_excerpt(dp),
        since(t0));
    return;
  }
  peer_dump_ok_ = true;
  same_files("peer.round_trip", path("pool.xml"), path("peer.thin_dump.xml"),
             "thin_dump(thin_restore(xml)) differs from the generated XML (generator not canonical)", since(t0));
}

std::optional<std::string> CaseRunner::known_restore_defect(const CommandResult& rs) {
  if ((rs.err + rs.out).find("ref count not in tree") == std::string::npos) return std::nullopt;
  std::ifstream xml(path("pool.xml"));
  auto model = replay_thin_restore_ref_counts(xml);
  if (model.outcome() != ThinRestoreRefCountTree::Outcome::loses_ref_count) return std::nullopt;
  return "known peer defect, not a failure: " + model.describe();
}

void CaseRunner::direction_a() {
  const auto& P = o_.peers;
  std::string meta = path("thinsim.meta");
  auto rs = run("a.thinsim_restore", {o_.thinsim, "restore", "-i", path("pool.xml"), "-o", meta});
  if (!rs.ok()) {
    add("a.thinsim_restore", CheckStatus::fail,
        "thinsim restore failed (" + rs.status() + "): " + report_excerpt(rs), rs.seconds);
    add("a.thin_check", CheckStatus::not_applicable, "thinsim restore failed", 0);
    add("a.thin_dump_matches_input", CheckStatus::not_applicable, "thinsim restore failed", 0);
    return;
  }
  add("a.thinsim_restore", CheckStatus::pass, "", rs.seconds);
  auto ck = run("a.thin_check", {P.thin_check, meta});
  if (!ck.ok()) {
    add("a.thin_check", CheckStatus::fail,
        "thin_check rejects thinsim's metadata (" + ck.status() + "): " + report_excerpt(ck), ck.seconds);
  } else {
    add("a.thin_check", CheckStatus::pass, "", ck.seconds);
    thinsim_image_ok_ = true;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto dp = run("a.thin_dump", {P.thin_dump, meta, "-o", path("a.thin_dump.xml")});
  if (!dp.ok()) {
    add("a.thin_dump_matches_input", CheckStatus::fail,
        "thin_dump cannot read thinsim's metadata (" + dp.status() + "): " + report_excerpt(dp), since(t0));
    return;
  }
  same_files("a.thin_dump_matches_input", path("pool.xml"), path("a.thin_dump.xml"),
             "thin_dump of thinsim's metadata differs from the input XML", since(t0));
}

void CaseRunner::check_options() {
  std::string meta = path("peer.meta");
  for (const char* opt : {"-q", "--super-block-only", "--skip-mappings", "--ignore-non-fatal-errors"}) {
    std::string name = std::string("b.thinsim_check") + variant_suffix(opt);
    auto r = run(name, {o_.thinsim, "check", opt, meta});
    if (!r.ok()) {
      add(name, CheckStatus::fail,
          std::string("thinsim check ") + opt + " rejects metadata that thin_check accepts (" + r.status() +
              "): " + report_excerpt(r),
          r.seconds);
    } else if (std::string(opt) == "-q" && !(r.out.empty() && r.err.empty())) {
      add(name, CheckStatus::fail,
          "thinsim check -q printed something (thin_check -q prints nothing): '" + first_lines(r.err + r.out) + "'",
          r.seconds);
    } else {
      add(name, CheckStatus::pass, "", r.seconds);
    }
  }
}

void CaseRunner::clear_needs_check() {
  const char* name = "b.clear_needs_check";
  auto t0 = std::chrono::steady_clock::now();
  std::string peer_copy = path("cleared-by-thin_check.meta"), ts_copy = path("cleared-by-thinsim.meta");
  try {
    copy_file(path("peer.meta"), peer_copy);
    copy_file(path("peer.meta"), ts_copy);
  } catch (const std::exception& e) {
    add(name, CheckStatus::fail, std::string("harness could not copy the image: ") + e.what(), since(t0));
    return;
  }
  auto pc = run("b.clear_needs_check.thin_check", {o_.peers.thin_check, "--clear-needs-check-flag", peer_copy});
  auto tc = run("b.clear_needs_check.thinsim", {o_.thinsim, "check", "--clear-needs-check-flag", ts_copy});
  if (!pc.ok()) {
    add(name, CheckStatus::not_applicable, "thin_check --clear-needs-check-flag failed: " + report_excerpt(pc), since(t0));
    return;
  }
  if (!tc.ok()) {
    add(name, CheckStatus::fail,
        "thinsim check --clear-needs-check-flag failed (" + tc.status() + "): " + report_excerpt(tc), since(t0));
    return;
  }
  auto d1 = run("b.clear_needs_check.dump_peer", {o_.peers.thin_dump, peer_copy, "-o", path("cleared-by-thin_check.xml")});
  auto d2 = run("b.clear_needs_check.dump_thinsim", {o_.peers.thin_dump, ts_copy, "-o", path("cleared-by-thinsim.xml")});
  if (!d1.ok() || !d2.ok()) {
    add(name, CheckStatus::fail,
        "thin_dump cannot read the cleared image (" + (d1.ok() ? d2.status() : d1.status()) + "): " +
            report_excerpt(d1.ok() ? d2 : d1),
        since(t0));
    return;
  }
  if (same_files(name, path("cleared-by-thin_check.xml"), path("cleared-by-thinsim.xml"),
                 "metadata after thinsim's --clear-needs-check-flag dumps differently from thin_check's", since(t0))) {
    RunOptions ro;
    ro.timeout = std::chrono::seconds(120);
    if (!run_command({"cmp", "-s", peer_copy, ts_copy}, ro).ok())
      note(std::string(name) + ": the images cleared by thin_check and thinsim differ in bytes (dumps agree)");
    remove_tree(peer_copy);
    remove_tree(ts_copy);
  }
}

void CaseRunner::direction_b() {
  std::string meta = path("peer.meta");
  if (!peer_image_ok_) {
    for (const char* c : {"b.thinsim_check", "b.thinsim_dump_matches", "b.thinsim_dump_stdout"})
      add(c, CheckStatus::not_applicable, "no valid thin_restore image (see peer.* checks)", 0);
    return;
  }
  auto ck = run("b.thinsim_check", {o_.thinsim, "check", meta});
  if (!ck.ok())
    add("b.thinsim_check", CheckStatus::fail,
        "thinsim check rejects metadata that thin_check accepts (" + ck.status() + "): " + report_excerpt(ck),
        ck.seconds);
  else
    add("b.thinsim_check", CheckStatus::pass, "", ck.seconds);

  if (ck.ok() && ck.out != pc_out_)
    note("b.thinsim_check: stdout differs from thin_check's (thin_check: '" + first_lines(pc_out_) +
         "', thinsim: '" + first_lines(ck.out) + "')");
  check_options();
  clear_needs_check();

  if (!peer_dump_ok_) {
    add("b.thinsim_dump_matches", CheckStatus::not_applicable, "thin_dump failed", 0);
    add("b.thinsim_dump_stdout", CheckStatus::not_applicable, "thin_dump failed", 0);
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto dp = run("b.thinsim_dump", {o_.thinsim, "dump", meta, "-o", path("b.thinsim_dump.xml")});
  if (!dp.ok())
    add("b.thinsim_dump_matches", CheckStatus::fail, "thinsim dump -o failed (" + dp.status() + "): " + report_excerpt(dp),
        since(t0));
  else
    same_files("b.thinsim_dump_matches", path("peer.thin_dump.xml"), path("b.thinsim_dump.xml"),
               "thinsim dump -o differs from thin_dump", since(t0));

  t0 = std::chrono::steady_clock::now();
  auto ds = run("b.thinsim_dump_stdout", {o_.thinsim, "dump", meta}, path("b.thinsim_dump_stdout.xml"));
  if (!ds.ok())
    add("b.thinsim_dump_stdout", CheckStatus::fail, "thinsim dump failed (" + ds.status() + "): " + report_excerpt(ds),
        since(t0));
  else
    same_files("b.thinsim_dump_stdout", path("peer.thin_dump.xml"), path("b.thinsim_dump_stdout.xml"),
               "thinsim dump (stdout) differs from thin_dump", since(t0));
}

void CaseRunner::damage_matrix(const std::string& src, const std::string& image, uint64_t stream) {
  ImageMap map;
  try {
    map = classify_image(image);
  } catch (const std::exception& e) {
    add("damage." + src + ".classify", CheckStatus::fail, std::string("cannot walk the image: ") + e.what(), 0);
    return;
  }
  log("  " + src + " image: " + map.summary());
  for (const auto& p : map.problems) note("damage." + src + ": image walk: " + p);

  for (DamageKind kind : o_.damage_kinds) {
    std::string name = "damage." + src + "." + std::string(damage_name(kind));
    auto t0 = std::chrono::steady_clock::now();
    std::string img = path("damage-" + src + "-" + std::string(damage_name(kind)) + ".meta");
    std::optional<Damage> d;
    try {
      copy_file(image, img);
      Rng rng(derive_seed(r_.seed, stream * 1000 + static_cast<uint64_t>(kind)));
      d = apply_damage(kind, img, map, rng);
    } catch (const std::exception& e) {
      add(name, CheckStatus::fail, std::string("harness could not damage the image: ") + e.what(), since(t0));
      continue;
    }
    if (!d) {
      add(name, CheckStatus::not_applicable, "the image has no block this damage applies to", since(t0));
      remove_tree(img);
      continue;
    }
    write_text(img + ".txt", d->description + "\n");
    fs::create_directories(dir_ / "logs");
    write_text(dir_ / "logs" / (name + ".damage.txt"), d->description + "\n");
    bool failed = false;
    for (const auto& variant : o_.check_variants) {
      std::string check = name + variant_suffix(variant);
      if (!compare_checkers(check, img, *d, variant, t0)) failed = true;
      t0 = std::chrono::steady_clock::now();
      if (o_.thinsim.empty()) break;  // peer-only: the plain check validates the damage
    }
    if (!failed) {
      remove_tree(img);
      remove_tree(img + ".txt");
    }
  }
}

std::string CaseRunner::variant_suffix(const std::string& option) {
  if (option.empty()) return "";
  std::string s = "+";
  for (char c : option.substr(option.find_first_not_of('-'))) s += c == '-' ? '_' : c;
  return s;
}

// thin_check and thinsim check (both with `option`) on one damaged image.
bool CaseRunner::compare_checkers(const std::string& name, const std::string& img, const Damage& d,
                                  const std::string& option, std::chrono::steady_clock::time_point t0) {
  std::vector<std::string> peer_argv = {o_.peers.thin_check}, ts_argv = {o_.thinsim, "check"};
  if (!option.empty()) {
    peer_argv.push_back(option);
    ts_argv.push_back(option);
  }
  peer_argv.push_back(img);
  ts_argv.push_back(img);
  auto pc = run(name + ".thin_check", peer_argv);
  bool peer_detects = !pc.ok();
  std::string peer_said = peer_detects ? pc.status() + ": " + report_excerpt(pc) : "passes";

  if (o_.thinsim.empty()) {
    if (peer_detects) {
      add(name, CheckStatus::pass, d.description + " | thin_check: " + peer_said, since(t0));
      return true;
    }
    if (peer_may_miss(d.kind)) {
      add(name, CheckStatus::pass, d.description + " | thin_check misses it (known for 0.9.0)", since(t0));
      note(name + ": thin_check does not detect: " + d.description);
      return true;
    }
    add(name, CheckStatus::fail, "thin_check did not detect the damage: " + d.description, since(t0));
    return false;
  }

  auto tc = run(name + ".thinsim_check", ts_argv);
  // The image's path holds digits of its own: leave it out of the block-number search.
  std::string report = replace_all(tc.err + "\n" + tc.out, img, "<image>");
  std::string ts_said = tc.ok() ? "passes" : tc.status() + ": " + report_excerpt(tc);
  std::string ctx = d.description + " | thin_check" + (option.empty() ? "" : " " + option) + ": " + peer_said +
                    " | thinsim: " + ts_said;
  bool ts_detects = tc.exited && tc.exit_code != 0;
  if (!tc.exited) {
    add(name, CheckStatus::fail, "thinsim check did not finish normally (" + tc.status() + ") | " + ctx, since(t0));
    return false;
  }
  if (peer_detects) {
    std::string why;
    const auto& codes = d.accepted_exit_codes;
    if (!ts_detects) {
      add(name, CheckStatus::fail, "thin_check finds damage but thinsim check passes | " + ctx, since(t0));
      return false;
    }
    if (std::find(codes.begin(), codes.end(), tc.exit_code) == codes.end()) {
      add(name, CheckStatus::fail,
          "thinsim check exit code " + std::to_string(tc.exit_code) + " is not a damage report (expected 1) | " + ctx,
          since(t0));
      return false;
    }
    if (!report_names_damage(d, report, why)) {
      add(name, CheckStatus::fail, why + " | " + ctx, since(t0));
      return false;
    }
    add(name, CheckStatus::pass, ctx, since(t0));
    if (tc.exit_code != 1) note(name + ": thinsim reports this damage with exit " + std::to_string(tc.exit_code));
    return true;
  }
  add(name, CheckStatus::pass, ctx, since(t0));
  if (ts_detects) {
    std::string why;
    bool named = report_names_damage(d, report, why);
    note(name + ": thinsim finds damage that thin_check misses (" + d.description + "); thinsim: " + ts_said +
         (named ? "" : " [" + why + "]"));
  } else if (option.empty()) {
    note(name + ": neither tool detects: " + d.description);
  }
  return true;
}

void CaseRunner::run_all() {
  auto t0 = std::chrono::steady_clock::now();
  try {
    r_.spec = spec_for_case(r_.profile, r_.seed);
    write_text(dir_ / "spec.json", spec_to_json(r_.spec).dump(2) + "\n");
    r_.stats = write_pool_xml_file(r_.spec, r_.seed, path("pool.xml"));
  } catch (const std::exception& e) {
    add("peer.generate", CheckStatus::fail, std::string("cannot generate the pool: ") + e.what(), since(t0));
    return;
  }
  add("peer.generate", CheckStatus::pass, "", since(t0));
  log("case seed=" + std::to_string(r_.seed) + " profile=" + r_.profile + " spec=" + r_.spec.name +
      ": devices=" + std::to_string(r_.stats.nr_devices) + " snapshots=" + std::to_string(r_.stats.nr_snapshots) +
      " mappings=" + std::to_string(r_.stats.nr_mappings) + " shared=" + std::to_string(r_.stats.nr_shared_mappings) +
      " data_blocks=" + std::to_string(r_.stats.nr_data_blocks) + " block_size=" + std::to_string(r_.stats.data_block_size));

  peer_round_trip();
  if (!o_.thinsim.empty() && o_.direction_a) direction_a();
  if (!o_.thinsim.empty() && o_.direction_b) direction_b();
  if (o_.damage) {
    if (peer_image_ok_) damage_matrix("thin_restore", path("peer.meta"), 1);
    else
      add("damage.thin_restore", CheckStatus::not_applicable, "no valid thin_restore image (see peer.* checks)", 0);
    if (!o_.thinsim.empty() && o_.direction_a && o_.damage_thinsim_images) {
      if (thinsim_image_ok_)
        damage_matrix("thinsim", path("thinsim.meta"), 2);
      else
        add("damage.thinsim", CheckStatus::not_applicable,
            "no valid thinsim restore image to damage (see a.* checks)", 0);
    }
  }
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out;
}

}  // namespace

CaseResult run_case(const EngineOptions& o, uint64_t seed, const std::string& profile) {
  auto t0 = std::chrono::steady_clock::now();
  CaseResult r;
  r.seed = seed;
  r.profile = profile;
  if (o.replay) {
    r.replay = o.replay(seed, profile);
  } else {
    std::vector<std::string> argv = {THINSIM_CONFORMANCE_BINARY, "--case", std::to_string(seed), "--profile", profile};
    if (!o.thinsim.empty()) {
      argv.push_back("--thinsim");
      argv.push_back(o.thinsim);
    }
    argv.insert(argv.end(), {"--out", "/tmp/thinsim-replay/" + std::to_string(seed), "--force"});
    r.replay = shell_join(argv);
  }

  fs::path dir;
  try {
    dir = make_unique_dir(o.work_root.empty() ? fs::temp_directory_path().string() : o.work_root,
                          "case-" + sanitize(profile) + "-" + std::to_string(seed));
  } catch (const std::exception& e) {
    r.checks.push_back({"peer.generate", CheckStatus::fail, std::string("cannot make a work directory: ") + e.what(), 0});
    return r;
  }
  write_text(dir / "seed.txt", std::to_string(seed) + "\n");
  write_text(dir / "replay.sh", "#!/bin/sh\n" + r.replay + "\n");

  CaseRunner runner(o, r, dir);
  try {
    runner.run_all();
  } catch (const std::exception& e) {
    r.checks.push_back({"harness", CheckStatus::fail, std::string("harness error: ") + e.what(), 0});
  }
  r.seconds = since(t0);

  if (r.passed() && !o.keep_passing) {
    remove_tree(dir.string());
    return r;
  }
  // Keep the bundle: everything the case made, plus the result.
  fs::path bundle = dir;
  r.bundle = fs::absolute(bundle).string();
  write_text(bundle / "result.json", case_to_json(r).dump(2) + "\n");
  if (!r.passed()) write_text(bundle / "FAILED.txt", r.failure_report());
  return r;
}

}  // namespace thinsim::peer
