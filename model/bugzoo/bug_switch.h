// The bug zoo's switches: named runtime mutations that re-introduce real historical
// dm-thin / persistent-data bugs (docs/bug-zoo-switches.md, catalogue in
// shared/docs/bug-zoo.md) into the model, so that each detector can be measured against
// bugs that really happened. Every switch is off by default; with all of them off the
// model is the unmodified port.
//
// The state is process-global: one array of flags, read inline where the mutation lives
// (a single byte load, no lookup). Toggling is not thread-safe: set the switches before a
// run starts (the CLI does so while parsing its arguments) and not while a pool is in
// use on another thread.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace thinsim::bugzoo {

enum class BugId : unsigned {
  tm01_superblock_after_failed_flush,
  tm02_sm_roots_copied_after_superblock_lock,
  tm05_metadata_snap_without_commit,
  tm06_release_snap_only_decrements,
  tm07_commit_when_not_in_service,
  sm02_dec_below_zero_accepted,
  sm03_allocator_checks_old_map_only,
  ds08_no_data_flush_before_commit,
  pm12_mapped_blocks_not_decremented,
  bt07_nested_delete_skips_innermost,
  bt08_lookup_next_no_clamp,
  pm13_duplicate_device_id_accepted,
  pm01_out_of_data_space_aborts,
  pm03_discard_refused_out_of_data_space,
  pm04_no_space_timeout_read_only,
  kCount  // not a bug: the number of switches
};

inline constexpr std::size_t kBugCount = static_cast<std::size_t>(BugId::kCount);

// One entry of the registry.
struct BugInfo {
  BugId id;
  std::string_view name;       // "BZ-TM-01", as in bug-zoo.md
  int tier;                    // bug-zoo.md's tier (1 = one-thread metadata logic ... 4 = IO ordering)
  std::string_view summary;    // one line: what the mutation does
  std::string_view fix;        // the upstream fix it reverts: commit id and title
  std::string_view where;      // where in the model the mutation lives
  std::string_view detectors;  // which detectors bug-zoo.md expects to catch it
};

// An unknown name; what() lists the known ones.
class UnknownBug : public std::invalid_argument {
 public:
  explicit UnknownBug(std::string_view name);
};

namespace detail {
inline constinit std::array<bool, kBugCount> g_enabled{};
}  // namespace detail

// The hot-path test: is the mutation on?
inline bool enabled(BugId id) {
  return __builtin_expect(detail::g_enabled[static_cast<std::size_t>(id)], false);
}

void set(BugId id, bool on);
inline void enable(BugId id) { set(id, true); }
inline void disable(BugId id) { set(id, false); }
// By name ("BZ-TM-01", case-insensitive). Throws UnknownBug.
void enable(std::string_view name);
void disable(std::string_view name);
// A comma-separated list of names (the THINSIM_BUGS spelling); empty items are ignored.
// Throws UnknownBug before enabling anything if one name is unknown.
void enable_list(std::string_view names);
void disable_all();

// The registry, in BugId order.
std::span<const BugInfo> list();
const BugInfo& info(BugId id);
std::optional<BugId> find(std::string_view name);
std::vector<BugId> enabled_bugs();
// "BZ-TM-01,BZ-SM-02" for the switches that are on ("" when none is).
std::string enabled_names();

// Turns one switch on (or off) for a scope and restores its previous state after.
class ScopedBug {
 public:
  explicit ScopedBug(BugId id, bool on = true) : id_(id), was_(enabled(id)) { set(id, on); }
  explicit ScopedBug(std::string_view name, bool on = true);
  ~ScopedBug() { set(id_, was_); }
  ScopedBug(const ScopedBug&) = delete;
  ScopedBug& operator=(const ScopedBug&) = delete;

 private:
  BugId id_;
  bool was_;
};

}  // namespace thinsim::bugzoo
