// dmctl io: one IO step of the oracle's guest script in one process (sim/kernel/dmctl.cc).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace thinsim::dmctl {

// The first target's status parameters of a device (committing a pool, as a status
// without --noflush does), or nothing if there is no such device.
using StatusOf = std::function<std::optional<std::string>(const std::string& name)>;

// dmctl io ID IOID TRIES OP ARGS... [commit POOL GUEST]...
//   OP: write SRC SKIP DST SEEK LEN [fua] | read SRC SKIP DST SEEK LEN |
//       discard DEV OFFSET LEN | flush DEV
// Runs the IO in a child, as dd, blkdiscard or sync would (O_DIRECT, one request of LEN
// bytes at byte offsets; fua writes O_DSYNC, one REQ_FUA bio; a discard opens the device
// O_EXCL). The child
// leaves /tmp/io.IOID.out (its error text) and then /tmp/io.IOID (its exit status), as
// the script's bgio did. The parent waits up to TRIES * 10 ms and prints
// "ORACLE-S ID ok", "ORACLE-S ID err TEXT" or "ORACLE-S ID queued" (leaving
// /tmp/io.IOID.queued), then for each
// commit "ORACLE-C ID POOL PARAMS" (the forced commit). Returns the exit status.
int run_io(const std::vector<std::string>& args, const StatusOf& status_of);

}  // namespace thinsim::dmctl
