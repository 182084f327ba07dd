// Fault points: places in the model that the kernel's code can fail at but that no disk
// IO reaches, so fault/'s FaultyDisk cannot make them fail. Armed from tests (and,
// later, the crash explorer); disarmed they cost one byte load. Process-global like the
// bug switches (bug_switch.h), and like them not thread-safe to arm during a run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace thinsim::bugzoo {

enum class FaultPoint : unsigned {
  // Copying a space map's root into the superblock at commit (dm_sm_copy_root, which can
  // return -ENOSPC). Fails with PdataError(ENOSPC). BZ-TM-02 is about this point.
  sm_copy_root,
  kCount
};

inline constexpr std::size_t kFaultPointCount = static_cast<std::size_t>(FaultPoint::kCount);

namespace detail {
struct FaultState {
  bool armed = false;
  uint64_t after = 0;  // passes left before failing
  uint64_t count = 0;  // failures left
  uint64_t fired = 0;  // failures so far
};
inline constinit bool g_any_fault_armed = false;
inline constinit std::array<FaultState, kFaultPointCount> g_faults{};
bool fires_slow(FaultPoint p);
}  // namespace detail

// Should the operation at p fail now? Counts the pass.
inline bool fault_fires(FaultPoint p) {
  if (__builtin_expect(!detail::g_any_fault_armed, true)) return false;
  return detail::fires_slow(p);
}

// p passes `after` times, then fails `count` times, then passes again.
void arm_fault(FaultPoint p, uint64_t after = 0, uint64_t count = 1);
void disarm_fault(FaultPoint p);
void disarm_all_faults();
uint64_t times_fired(FaultPoint p);

class ScopedFault {
 public:
  explicit ScopedFault(FaultPoint p, uint64_t after = 0, uint64_t count = 1) : p_(p) {
    arm_fault(p, after, count);
  }
  ~ScopedFault() { disarm_fault(p_); }
  ScopedFault(const ScopedFault&) = delete;
  ScopedFault& operator=(const ScopedFault&) = delete;

 private:
  FaultPoint p_;
};

}  // namespace thinsim::bugzoo
