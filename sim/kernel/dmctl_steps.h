// dmctl steps: a run of the oracle's steps that do no IO in one process (the script's
// group, guest_script.cc), each reported exactly as the script's shell helpers report it:
//
//   dmctl steps ITEM :: ITEM ...
//     run ID CMD ARGS...      "ORACLE-S ID ok", or "ORACLE-S ID err STDERR" (newlines
//                             turned into blanks) if dmctl CMD fails; its stdout is dropped
//     line ID CMD ARGS...     "ORACLE-S ID line REST": REST is the first stdout line
//                             without its first three fields, as `read -r f1 f2 f3 rest`
//                             leaves it; or the err line as for run
//     commit ID POOL GUEST    "ORACLE-C ID POOL REST" from `status GUEST`, nothing if
//                             that fails (the step's forced commit)
//     ok ID                   "ORACLE-S ID ok" (a step with nothing to do in the guest)
//     list ID                 "ORACLE-M ID NAME MAJOR MINOR" for each device `dmctl list`
//                             lists (a table step's device numbers)
//     io ID DEV SIZE END ANCHOR IOARGS...
//                             an IO step, refused as the script's nodev and beyond
//                             refuse it: "ORACLE-S ID err no such device: ..." if DEV is
//                             no block device, "ORACLE-S ID err attempt to access beyond
//                             end of device: ..." if SIZE (a /tmp/dmsize file, - for no
//                             check) holds fewer than END sectors; either way followed by
//                             the commits IOARGS ends with, as commit items. Otherwise
//                             ANCHOR (FILE:MS, or -) gets the script's anchor (now minus
//                             MS, in ms since boot) and `dmctl io ID IOARGS...` runs,
//                             printing its own lines (dmctl_io.h)
//     settle MS IOID...       waits up to MS ms for each IO dmctl io reported queued as
//                             IOID to end (its /tmp/io.IOID to appear); prints nothing
//
// Every item runs whatever the ones before it did: each is a step of its own.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace thinsim::dmctl {

// Runs one dmctl command (CMD ARGS...) in this process; returns its exit status.
using CommandRunner = std::function<int(const std::vector<std::string>& command)>;

struct Captured {
  int status = 0;
  std::string out, err;  // what the command wrote on stdout and stderr
};

// The command with stdout and stderr caught (file descriptors 1 and 2, in memory files).
Captured capture(const CommandRunner& run, const std::vector<std::string>& command);

// The shell's `flat`: newlines become blanks, nothing is trimmed.
std::string flat(std::string text);
// What `read -r f1 f2 f3 rest` leaves in rest: the first line, its first three
// blank-separated fields dropped, leading and trailing blanks trimmed.
std::string rest_after_three_fields(const std::string& out);

// The ORACLE lines one item prints (each ending in a newline; an io item's own, printed
// by the command, are not among them). Throws std::invalid_argument for an item that is
// none of the seven.
std::string report(const std::vector<std::string>& item, const CommandRunner& run);

// dmctl steps ARGS: splits ARGS at "::", prints each item's report as it ends. Returns 0,
// or 2 (with the reason on stderr) for a malformed item; the items before it have run.
int run_steps(const std::vector<std::string>& args, const CommandRunner& run);

}  // namespace thinsim::dmctl
