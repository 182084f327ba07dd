// The guest's power cut, worked out from the write logs of a case's disks: what each disk
// holds after it, as the model's SimDisk::power_cut leaves it. Every disk of a case that
// crashes runs under a log-writes target, with a log per segment (the stretch between
// two crashes). At a crash the guest marks each log `precrash`, flushes the disk (so the
// writes still in its cache come into the log, in completion order, as the model's
// pending list has them), marks it `crash` and only then tears the pool down. A fault
// `ignore-flush` marks `lie`, its `clear` marks `truth`: the flushes and FUA writes in
// between make nothing durable.
//
// Replaying every segment from the disk's initial contents gives, for each sector any
// log touched, where its contents come from now: the initial contents, zeroes (a
// discard) or a logged write. A crash keeps none of the cached writes, all of them, or a
// seeded choice made with the model's own chooser (fault/crash_chooser.h) over the disks
// in the order the model visits them (by name), one decision per cached write.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kernel/write_log.h"

namespace thinsim::kernel {

inline constexpr std::string_view kMarkLie = "lie";
inline constexpr std::string_view kMarkTruth = "truth";
inline constexpr std::string_view kMarkPrecrash = "precrash";
inline constexpr std::string_view kMarkCrash = "crash";

enum class KeepCached : uint8_t { none, all, seeded };

struct CrashChoice {
  KeepCached keep = KeepCached::none;
  uint64_t seed = 0;
};

// "none", "all" or "seed:N".
std::optional<CrashChoice> parse_crash_choice(std::string_view text);
std::string to_string(const CrashChoice& c);

struct ReplaySource {
  enum class Kind : uint8_t { initial, zero, log };
  Kind kind = Kind::initial;
  uint32_t segment = 0;  // log: which segment's log
  uint64_t offset = 0;   // log: byte offset of the piece's first sector in it
  friend bool operator==(const ReplaySource&, const ReplaySource&) = default;
};

// Sectors [begin, end) of the disk come from `source`.
struct ReplayPiece {
  uint64_t begin = 0, end = 0;
  ReplaySource source;
  friend bool operator==(const ReplayPiece&, const ReplayPiece&) = default;
};

class ReplayError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DiskLogs {
  std::string name;
  std::vector<std::vector<WriteLogEntry>> segments;  // one log per crash so far
  // A pool's metadata disk: the cached writes of each flush batch are taken in ascending
  // sector order (the model's block manager writes a commit's blocks so; the kernel's
  // complete in any order).
  bool metadata = false;
};

// The pieces of each disk (in `disks` order, which must be the model's: by name), sorted
// and disjoint, covering every sector any log entry names. Throws ReplayError for a
// segment without its crash mark (a log that overflowed) and for a cached write the logs
// cannot order against a FUA write to the same sectors.
std::vector<std::vector<ReplayPiece>> plan_replay(const std::vector<DiskLogs>& disks,
                                                  const std::vector<CrashChoice>& crashes);

}  // namespace thinsim::kernel
