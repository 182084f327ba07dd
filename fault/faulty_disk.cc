#include "fault/faulty_disk.h"

#include "model/pdata/error.h"

namespace thinsim::fault {

void FaultyDisk::set_rule(std::optional<IoFaultRule> rule) {
  rule_ = std::move(rule);
  seen_ = failed_ = 0;
}

void FaultyDisk::maybe_fail(IoOp op, uint64_t sector) {
  if (!rule_ || !(rule_->ops & op)) return;
  if (seen_++ < rule_->after) return;
  if (rule_->count && failed_ >= *rule_->count) return;
  ++failed_;
  ++failures_;
  throw pdata::IoError(rule_->error, name_ + ": injected " + ops_to_string(op) + " error" +
                                         (op == kFlush ? "" : " at sector " + std::to_string(sector)));
}

void FaultyDisk::read(uint64_t sector, std::span<std::byte> buf) {
  maybe_fail(kRead, sector);
  disk_->read(sector, buf);
}

void FaultyDisk::write(uint64_t sector, std::span<const std::byte> buf, pdata::WriteFlags flags) {
  maybe_fail(kWrite, sector);
  disk_->write(sector, buf, flags);
}

void FaultyDisk::flush() {
  maybe_fail(kFlush, 0);
  disk_->flush();
}

void FaultyDisk::discard(uint64_t sector, uint64_t nr_sectors) {
  maybe_fail(kDiscard, sector);
  disk_->discard(sector, nr_sectors);
}

}  // namespace thinsim::fault
