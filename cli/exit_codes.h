// Exit codes of the thinsim command (documented in docs/user-guide.md). 0 and 1 follow
// thin-provisioning-tools: 1 is "the metadata is bad" (or the operation on it failed).
#pragma once

namespace thinsim::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitMetadataBad = 1;  // damage found, or the metadata cannot be used
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitBadInput = 3;     // malformed or unrestorable input file
inline constexpr int kExitEnvironment = 4;  // cannot open/create/write files, would overwrite
inline constexpr int kExitKernelUnavailable = 5;  // thinsim oracle: the kernel side could not run
inline constexpr int kExitInternal = 70;    // a bug in thinsim (EX_SOFTWARE)

}  // namespace thinsim::cli
