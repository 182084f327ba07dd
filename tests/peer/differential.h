// The differential engine: one case = (seed, profile) -> a generated pool put through
// thinsim and the peer thin-provisioning-tools in both directions, then a matrix of
// damaged images checked by both. Results are structured (one record per check) so both
// the GoogleTest suite and the conformance campaign can use them; a failing case leaves a
// bundle directory with everything needed to look at it and a one-line replay command.
//
// Checks of a case (name: what must hold):
//   peer.generate                pool XML generated
//   peer.thin_restore            thin_restore accepts the XML (not applicable, with a note,
//                                when it hits its known btree defect: peer_defects.h)
//   peer.thin_check              thin_check passes on thin_restore's metadata
//   peer.round_trip              thin_dump(thin_restore(xml)) == xml, byte for byte
//                                (the generator emits thin_dump's canonical form)
//   a.thinsim_restore            thinsim restore accepts the XML (exit 0)
//   a.thin_check                 thin_check passes on thinsim's metadata
//   a.thin_dump_matches_input    thin_dump(thinsim restore(xml)) == xml
//   b.thinsim_check              thinsim check passes on thin_restore's metadata
//   b.thinsim_dump_matches       thinsim dump -o == thin_dump -o on that metadata
//   b.thinsim_dump_stdout        thinsim dump to stdout == thin_dump
//   b.thinsim_check+<option>     thinsim check passes with -q (printing nothing, like
//                                thin_check -q), --super-block-only, --skip-mappings,
//                                --ignore-non-fatal-errors
//   b.clear_needs_check          thinsim check --clear-needs-check-flag on a copy passes and
//                                leaves metadata that thin_dump shows as thin_check's
//                                --clear-needs-check-flag does (flags="0")
//   damage.<src>.<kind>          src = thin_restore | thinsim (whose image was damaged).
//                                With thinsim: if thin_check fails, thinsim check must fail
//                                (expected exit code) and its report must name the damaged
//                                block and the problem; thinsim must never crash or hang.
//                                Cases where only thinsim finds damage are recorded as notes.
//                                Peer-only: thin_check must detect the damage (validates
//                                the damage helpers), except kinds 0.9.0 is known to miss.
//   damage.<src>.<kind>+<option> the same with a check option on both tools (e.g.
//                                +super_block_only, +skip_mappings, +ignore_non_fatal_errors)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/peer/damage.h"
#include "peer/peer_tools.h"
#include "tests/peer/thinsim_binary.h"
#include "tests/peer/pool_generator.h"

namespace thinsim::peer {

enum class CheckStatus { pass, fail, not_applicable };
std::string_view status_name(CheckStatus s);

struct CheckResult {
  std::string name;
  CheckStatus status = CheckStatus::pass;
  std::string message;  // why it failed, or what was noted
  double seconds = 0;
};

struct CaseResult {
  uint64_t seed = 0;
  std::string profile;
  PoolSpec spec;
  PoolStats stats;
  std::vector<CheckResult> checks;
  // Recorded, not failures: damage thinsim finds and thin_check misses, damage neither
  // finds, peer quirks.
  std::vector<std::string> notes;
  std::string bundle;  // directory kept for a failing case (or when asked to keep)
  std::string replay;  // one-line command that reruns this case
  double seconds = 0;

  size_t nr_failed() const;
  size_t nr_passed() const;
  bool passed() const { return nr_failed() == 0; }
  // Failed checks with their messages, the bundle and the replay command.
  std::string failure_report() const;
};

struct EngineOptions {
  // The thinsim binary; empty = peer-only mode (only peer.* and peer-only damage checks).
  std::string thinsim;
  PeerTools peers;
  // Case directories are created here; a passing case's directory is removed, a failing
  // one stays as its bundle (so every path in a message stays valid).
  std::string work_root;
  bool direction_a = true;
  bool direction_b = true;
  bool damage = true;
  bool damage_thinsim_images = true;  // also damage the images thinsim restore made
  std::vector<DamageKind> damage_kinds = all_damage_kinds();
  // Every damaged image is checked by both tools once per option ("" = plain check); the
  // check of an option is named damage.<src>.<kind>+<option without dashes>.
  std::vector<std::string> check_variants = {"", "--super-block-only", "--skip-mappings",
                                             "--ignore-non-fatal-errors"};
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  bool keep_passing = false;
  // Builds the replay command for a case; default: a thinsim-conformance --case command.
  std::function<std::string(uint64_t seed, const std::string& profile)> replay;
  // Progress lines (may be empty).
  std::function<void(const std::string&)> log;
};

// The spec of a case: `profile` is a random profile name (tiny, small, medium, large,
// mixed: knobs drawn from the seed) or "preset:NAME" (a fixed preset; the seed only
// changes the pool). Throws std::invalid_argument for an unknown profile.
PoolSpec spec_for_case(const std::string& profile, uint64_t seed);

// Runs one case. Never throws for a failing tool; harness errors become failed checks.
CaseResult run_case(const EngineOptions& opts, uint64_t seed, const std::string& profile);

// Damage kinds thin_check 0.9.0 does not detect (it does not compare data space-map
// reference counts against the mappings).
bool peer_may_miss(DamageKind k);

// Does a checker's report name the damage (block number and problem)? A block is named by
// its number as a whole token shortly after the word "block" on the same line. On false,
// `why` says what is missing.
bool report_names_damage(const Damage& d, const std::string& report, std::string& why);

// Compares two files; returns a description of the first difference, or nothing.
std::optional<std::string> compare_files(const std::string& expected, const std::string& actual);

// Seeds: fresh from std::random_device, or THINSIM_SEED from the environment.
uint64_t fresh_seed();
std::optional<uint64_t> seed_from_env();  // throws std::invalid_argument if malformed
uint64_t parse_seed(const std::string& text);  // decimal or 0x-hex; throws

nlohmann::json spec_to_json(const PoolSpec& s);
nlohmann::json stats_to_json(const PoolStats& s);
nlohmann::json case_to_json(const CaseResult& c);

// Creates a fresh unique directory under `parent` (made if missing) with this prefix.
std::string make_unique_dir(const std::string& parent, const std::string& prefix);
void remove_tree(const std::string& path);

}  // namespace thinsim::peer
