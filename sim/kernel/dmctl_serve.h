// dmctl's served disks (sim/kernel/dmctl.cc): a disk the guest's kernel reaches through
// the nbd driver, served by a daemon of this tool that applies the model's fault
// semantics (served_disk.h, nbd_server.h). For the faults no device-mapper target does.
//
//   dmctl serve NAME MEDIA      claims a free /dev/nbdN, connects it to a new daemon
//                               serving MEDIA (a dm slice), links /tmp/nbd/NAME to it and
//                               returns once the device is live; its control socket is
//                               /tmp/nbd/NAME.ctl
//   dmctl fault NAME LINE       hands the daemon one fault line (served_disk.h) between
//                               two requests; fails with EINVAL and its reason
//   dmctl unserve NAME          disconnects the device; the daemon writes its media
//                               faults' contents into MEDIA (SimDisk::write_overlay_to_media),
//                               releases the device and exits
//
// Each prints what failed on stderr and returns an errno (0 on success).
#pragma once

#include <string>
#include <vector>

namespace thinsim::dmctl {

int serve(const std::vector<std::string>& args);
int fault(const std::vector<std::string>& args);
int unserve(const std::vector<std::string>& args);

}  // namespace thinsim::dmctl
