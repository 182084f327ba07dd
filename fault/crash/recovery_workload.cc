#include "fault/crash/recovery_workload.h"

#include "harness/scenario_parser.h"

namespace thinsim::fault {

harness::Scenario recovery_scenario(const std::vector<RecoveryDisk>& disks, const harness::TableLine& pool_table,
                                    uint32_t data_block_sectors) {
  // Built as text and parsed, so the workload is exactly what a user could write (and
  // what a bundle shows).
  std::string text = "# recovery after a power cut (fault/crash/recovery_workload.h)\n";
  for (const RecoveryDisk& d : disks) {
    harness::Command c;
    c.body = harness::DiskCmd{d.name, d.sectors, d.fill};
    text += harness::to_text(c) + "\n";
  }
  const std::string id = std::to_string(kRecoveryThinId);
  const std::string block = std::to_string(data_block_sectors);
  text += "create recovered_pool \"" + pool_table.to_string() + "\"\n";
  text += "message recovered_pool 0 \"create_thin " + id + "\"\n";
  text += "create recovered_thin \"0 " + block + " thin recovered_pool " + id + "\"\n";
  text += "write recovered_thin 0 " + block + "s seed:1\n";
  text += "flush recovered_thin\n";
  text += "remove recovered_thin\n";
  text += "message recovered_pool 0 \"delete " + id + "\"\n";
  text += "remove recovered_pool\n";
  return harness::parse_scenario(text, "<recovery>");
}

}  // namespace thinsim::fault
