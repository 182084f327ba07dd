// A disk the guest serves to its own kernel over NBD (nbd_server.h), with the model's
// fault semantics by construction: fault::FaultyDisk's IO-error rule over sim::SimDisk's
// media faults (write-through) over the disk's slice. It gives the real kernel the faults
// no device-mapper target in the guest has: counted IO errors, latent sector errors a
// write repairs, lost and misdirected writes (docs/kernel-oracle.md, "Served disks").
//
// Faults arrive as control lines, one per scenario fault step (guest_disks.cc writes them):
//
//   error OPS AFTER COUNT|- ERRNO    FaultyDisk::set_rule (OPS as fault::ops_to_string)
//   latent SECTOR COUNT              SimDisk::add_latent_error on each sector
//   lose COUNT                       SimDisk::lose_next_writes
//   misdirect COUNT DELTA            SimDisk::misdirect_next_writes (DELTA in sectors)
//   flip SECTOR BIT                  SimDisk::flip_bit
//   clear                            no rule, no media faults
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "fault/faulty_disk.h"
#include "sim/sim_disk.h"

namespace thinsim::kernel {

class ServedDisk {
 public:
  ServedDisk(std::string name, std::unique_ptr<pdata::BlockDevice> media);

  uint64_t nr_sectors() const { return faulty_.nr_sectors(); }
  // One request; 0, or the errno it fails with (the IO changed nothing, as the model's).
  int read(uint64_t sector, std::span<std::byte> buf);
  int write(uint64_t sector, std::span<const std::byte> buf, bool fua);
  int flush();
  int discard(uint64_t sector, uint64_t nr_sectors);

  // Applies one control line; throws std::invalid_argument naming what is wrong.
  void apply(const std::string& line);
  // At the end: the overlay goes into the media, which is then flushed.
  void settle();

 private:
  template <class Fn>
  int guarded(Fn&& io);

  sim::IoClock clock_;
  sim::SimDisk* media_faults_;  // owned by faulty_
  fault::FaultyDisk faulty_;
};

}  // namespace thinsim::kernel
