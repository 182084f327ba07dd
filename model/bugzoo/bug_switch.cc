#include "model/bugzoo/bug_switch.h"

#include <algorithm>
#include <cctype>

#include "model/bugzoo/fault_point.h"

namespace thinsim::bugzoo {

namespace {

using enum BugId;

// In BugId order (checked below). Summaries are ours; fixes as bug-zoo.md records them.
constexpr BugInfo kBugs[] = {
    {tm01_superblock_after_failed_flush, "BZ-TM-01", 2,
     "the superblock is written even though the flush of the transaction's other blocks failed",
     "a9d45396f595 \"dm transaction manager: fix corruption due to non-atomic transaction commit\"",
     "TransactionManager::pre_commit (model/pdata/transaction_manager.cc)", "CC-EIO, SMT"},
    {tm02_sm_roots_copied_after_superblock_lock, "BZ-TM-02", 2,
     "space-map roots are copied after the superblock is locked and half updated; a copy error "
     "leaves it dirty in the cache",
     "5a32083d03fb \"dm: take care to copy the space map roots before locking the superblock\"",
     "PoolMetadata::commit_transaction (model/thin/pool_metadata.cc); fails through "
     "FaultPoint::sm_copy_root",
     "CC-EIO"},
    {tm05_metadata_snap_without_commit, "BZ-TM-05", 2,
     "reserve_metadata_snap pins the on-disk superblock's roots without committing first",
     "49e99fc717f6 \"dm thin metadata: fix bug when taking a metadata snapshot\" and 0d200aefd4ac "
     "\"dm thin: commit metadata before creating metadata snapshot\"",
     "PoolMetadata::reserve_metadata_snap and PoolTarget::message_reserve_metadata_snap", "OPF, TCD"},
    {tm06_release_snap_only_decrements, "BZ-TM-06", 1,
     "release_metadata_snap drops one reference on the held roots instead of deleting the trees",
     "7f518ad0a212 \"dm thin metadata: delete btrees when releasing metadata snapshot\"",
     "PoolMetadata::release_metadata_snap (model/thin/pool_metadata.cc)", "TCD, SMT"},
    {tm07_commit_when_not_in_service, "BZ-TM-07", 2,
     "commit and close write the superblock even when the pool was never put in service",
     "873f258becca \"dm thin metadata: do not write metadata if no changes occurred\"",
     "PoolMetadata::commit_transaction (model/thin/pool_metadata.cc)", "CC"},
    {sm02_dec_below_zero_accepted, "BZ-SM-02", 1,
     "decrementing a reference count of zero is silently accepted (stays zero)",
     "5b564d80f8bc \"dm space map: disallow decrementing a reference count below zero\"",
     "SpaceMapLowLevel::dec_one_bitmap (model/pdata/space_map_low_level.cc)", "SMT"},
    {sm03_allocator_checks_old_map_only, "BZ-SM-03", 1,
     "the allocator searches only the last committed transaction's map from its cursor, so it can "
     "hand out a block already in use in this transaction",
     "4feaef830de7 \"dm space map common: fix to ensure new block isn't already in use\"",
     "SpaceMapLowLevel::find_common_free_block (model/pdata/space_map_low_level.cc)",
     "SMT, CC, OPF"},
    {ds08_no_data_flush_before_commit, "BZ-DS-08", 4,
     "the data device is not flushed before the metadata commit",
     "694cfe7f31db \"dm thin: Flush data device before committing metadata\"",
     "the pre-commit callback in PoolTarget's constructor (model/pool/pool_target.cc)",
     "CC (two-device)"},
    {pm12_mapped_blocks_not_decremented, "BZ-PM-12", 1,
     "a device's mapped_blocks is not decremented when its mappings are removed",
     "seed (i), 2012 (no commit id recorded in bug-zoo.md)",
     "PoolMetadata::remove_range (model/thin/pool_metadata.cc)", "TCD, OPF"},
    {bt07_nested_delete_skips_innermost, "BZ-BT-07", 1,
     "deleting a nested btree does not descend into the innermost trees, leaking them",
     "seed (h), 2012 (no commit id recorded in bug-zoo.md)",
     "btree_del (model/pdata/btree.cc)", "TCD, SMT"},
    {bt08_lookup_next_no_clamp, "BZ-BT-08", 1,
     "lookup_next gives up (no data) in an internal node whose keys are all above the search key",
     "\"dm btree: fix a bug in dm_btree_lookup_next_single()\" (title recalled, commit id not "
     "verified in bug-zoo.md)",
     "lookup_next_single (model/pdata/btree.cc)", "OPF"},
    {pm13_duplicate_device_id_accepted, "BZ-PM-13", 1,
     "create_thin and create_snap do not check that the device id is unused",
     "seed (l) (no commit id recorded in bug-zoo.md)",
     "PoolMetadata::create_thin, PoolMetadata::create_snap (model/thin/pool_metadata.cc)", "OPF"},
    {pm01_out_of_data_space_aborts, "BZ-PM-01", 3,
     "running out of data space aborts the metadata transaction and makes the pool read-only",
     "3e1a06990958 \"dm thin: fix out of data space handling\"",
     "Pool::alloc_data_block (model/pool/pool.cc)", "OPF, CC"},
    {pm03_discard_refused_out_of_data_space, "BZ-PM-03", 3,
     "discards are treated like allocating writes in out-of-data-space mode (queued or failed)",
     "\"dm thin: fix inability to discard blocks when in out-of-data-space mode\" (upstream id not "
     "captured in bug-zoo.md)",
     "ThinTarget::process_discard (model/pool/thin_target.cc)", "OPF"},
    {pm04_no_space_timeout_read_only, "BZ-PM-04", 3,
     "when no_space_timeout expires the pool drops from out-of-data-space to read-only",
     "bcc696fac11f \"dm thin: stay in out-of-data-space mode once no_space_timeout expires\"",
     "Pool::advance_time, the no-space timeout (model/pool/pool.cc)", "OPF"},
};

static_assert(std::size(kBugs) == kBugCount, "one registry entry per BugId");

constexpr bool in_order() {
  for (std::size_t i = 0; i < kBugCount; ++i)
    if (static_cast<std::size_t>(kBugs[i].id) != i) return false;
  return true;
}
static_assert(in_order(), "registry entries in BugId order");

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

BugId lookup_or_throw(std::string_view name) {
  if (auto id = find(name)) return *id;
  throw UnknownBug(name);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

UnknownBug::UnknownBug(std::string_view name)
    : std::invalid_argument([name] {
        std::string msg = "unknown bug switch '";
        msg.append(name).append("' (known:");
        for (const BugInfo& b : kBugs) msg.append(" ").append(b.name);
        return msg.append(")");
      }()) {}

void set(BugId id, bool on) { detail::g_enabled[static_cast<std::size_t>(id)] = on; }
void enable(std::string_view name) { set(lookup_or_throw(name), true); }
void disable(std::string_view name) { set(lookup_or_throw(name), false); }

void enable_list(std::string_view names) {
  std::vector<BugId> ids;
  while (!names.empty()) {
    std::size_t comma = names.find(',');
    std::string_view item = trim(names.substr(0, comma));
    names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
    if (!item.empty()) ids.push_back(lookup_or_throw(item));
  }
  for (BugId id : ids) set(id, true);
}

void disable_all() { detail::g_enabled.fill(false); }

std::span<const BugInfo> list() { return kBugs; }
const BugInfo& info(BugId id) { return kBugs[static_cast<std::size_t>(id)]; }

std::optional<BugId> find(std::string_view name) {
  for (const BugInfo& b : kBugs)
    if (same_name(b.name, name)) return b.id;
  return std::nullopt;
}

std::vector<BugId> enabled_bugs() {
  std::vector<BugId> on;
  for (const BugInfo& b : kBugs)
    if (enabled(b.id)) on.push_back(b.id);
  return on;
}

std::string enabled_names() {
  std::string s;
  for (BugId id : enabled_bugs()) {
    if (!s.empty()) s.push_back(',');
    s.append(info(id).name);
  }
  return s;
}

ScopedBug::ScopedBug(std::string_view name, bool on) : id_(lookup_or_throw(name)), was_(enabled(id_)) {
  set(id_, on);
}

// ---------------------------------------------------------------------------------------
// Fault points

namespace detail {

bool fires_slow(FaultPoint p) {
  FaultState& s = g_faults[static_cast<std::size_t>(p)];
  if (!s.armed) return false;
  if (s.after) {
    --s.after;
    return false;
  }
  if (!s.count) return false;
  --s.count;
  ++s.fired;
  return true;
}

}  // namespace detail

namespace {
void update_any_armed() {
  detail::g_any_fault_armed = std::any_of(detail::g_faults.begin(), detail::g_faults.end(),
                                          [](const detail::FaultState& s) { return s.armed; });
}
}  // namespace

void arm_fault(FaultPoint p, uint64_t after, uint64_t count) {
  detail::g_faults[static_cast<std::size_t>(p)] = detail::FaultState{true, after, count, 0};
  update_any_armed();
}

void disarm_fault(FaultPoint p) {
  detail::g_faults[static_cast<std::size_t>(p)].armed = false;
  update_any_armed();
}

void disarm_all_faults() {
  for (auto& s : detail::g_faults) s.armed = false;
  update_any_armed();
}

uint64_t times_fired(FaultPoint p) { return detail::g_faults[static_cast<std::size_t>(p)].fired; }

}  // namespace thinsim::bugzoo
