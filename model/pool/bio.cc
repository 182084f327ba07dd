#include "model/pool/bio.h"

#include <cerrno>
#include <span>
#include <stdexcept>

namespace thinsim::pool {

void submit_remapped(Bio& bio) {
  int err = 0;
  try {
    size_t bytes = bio.remapped_nr_sectors * 512;
    switch (bio.op) {
      case BioOp::read:
        if (bytes) bio.remapped_dev->read(bio.remapped_sector, std::span(bio.data.data(), bytes));
        break;
      case BioOp::write:
        bio.remapped_dev->write(bio.remapped_sector, std::span(bio.data.data(), bytes),
                                pdata::WriteFlags{.fua = bio.fua});
        break;
      case BioOp::flush:
        bio.remapped_dev->flush();
        break;
      case BioOp::discard:
        bio.remapped_dev->discard(bio.remapped_sector, bio.remapped_nr_sectors);
        break;
    }
  } catch (const std::exception&) {
    err = EIO;
  }
  bio.complete(err);
}

}  // namespace thinsim::pool
