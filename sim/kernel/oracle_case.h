// A scenario made ready to run on both sides of the kernel oracle: the same commands for
// the model and for the real kernel, with the scenario's own expectations taken out (the
// oracle compares the two sides, it does not judge either), reads of every thin device's
// touched ranges and a clean teardown appended, and the points after which both sides
// force a commit (docs/kernel-oracle.md, "How time is controlled").
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/scenario_ast.h"

namespace thinsim::kernel {

// A scenario that uses something the guest cannot reproduce (fault injection, thin_check
// on a disk, ...). The oracle reports it as skipped with this reason.
class Untranslatable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OracleDisk {
  std::string name;
  uint64_t max_sectors = 0;  // the largest size the scenario gives it
  harness::ContentPattern fill;
  // Served to the guest's kernel over NBD with the model's own fault code (served_disk.h):
  // a fault on it that no dm target does exactly (a counted IO error, a latent error, a
  // lost or misdirected write).
  bool served = false;
};

// A metadata disk with the data disk its pool table names, for the thin_dump and data
// block comparison at the end.
struct PoolDisks {
  std::string metadata;
  std::string data;
};

struct OracleCase {
  std::string name;    // the scenario file, or "random:SEED:N"
  std::string source;  // the scenario text, for failure bundles
  harness::Scenario run;
  size_t scenario_steps = 0;         // run.commands[0, scenario_steps) are the scenario's own
  std::vector<bool> commit_after;    // per command of run: force a commit of every pool after it
  std::vector<bool> timer_expiry;    // per command of run: a sleep the oracle put before a discard
  std::vector<bool> crash_window;    // per command of run: the first of the IO a crash cuts short
  std::vector<OracleDisk> disks;     // in the order the scenario makes them
  std::vector<std::string> pools;    // every name given a thin-pool table
  std::vector<std::string> devices;  // every dm device name, in order of first creation
  std::vector<PoolDisks> pool_disks;
  uint64_t sleep_ms = 0;             // the scenario's simulated time, slept for real in the guest
  // The scenario's power cuts, in order. A case with any runs every disk under a write log
  // (log_replay.h), which the guest replays at each crash.
  std::vector<harness::CrashCmd> crashes;
  uint64_t write_bytes = 0;          // what the scenario's writes write, to size the logs

  bool journaled() const { return !crashes.empty(); }

  bool is_disk(const std::string& name) const;
  bool is_metadata_disk(const std::string& name) const;  // one a pool table names as its metadata
  const OracleDisk* disk(const std::string& name) const;
  // "file:line" of a scenario step, or a description of an appended one.
  std::string step_location(size_t step) const;
};

// Prepares a parsed scenario; throws Untranslatable.
OracleCase prepare_case(const harness::Scenario& scenario, std::string name, std::string source);

// Before every discard both sides let the worker's commit timer expire, so the kernel
// commits between a passed-down discard's two halves every time, as the model does: the
// model sleeps this long on its clock and the guest waits kGuestTimerWaitMs after the
// last moment its worker could have committed (docs/kernel-oracle.md).
inline constexpr uint64_t kTimerExpiryMs = 1001;
inline constexpr uint64_t kGuestTimerWaitMs = 1100;

// The largest read the appended content checks make (they are split into pieces of this).
inline constexpr uint64_t kContentReadSectors = 32768;  // 16 MiB
// Thin address ranges touched by any IO are read back in units of this (1 MiB).
inline constexpr uint64_t kContentGranuleSectors = 2048;

}  // namespace thinsim::kernel
