#include "sim/kernel/model_side.h"

#include "sim/sim_disk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace thinsim::kernel {

using namespace harness;

std::string errno_label(int err) {
  std::string_view n = errno_name(err);
  return n.empty() ? "errno " + std::to_string(err) : std::string(n);
}

namespace {

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

// The guest's FUA write is an O_DSYNC one, which block/fops.c follows with a flush of the
// whole device once it succeeds (generic_write_sync), and the write fails if the flush
// does: in a read-only pool whose thin has block 0 unmapped, say (process_bio_read_only
// takes the empty flush for a write to block 0). The flush's outcome, when it is not
// success; nothing for any other step, and in a case that crashes, which has the flush
// as a step of its own.
std::optional<std::string> flush_after_fua_write(const Command& cmd, const StepOutcome& out, DmCore& dm) {
  if (cmd.kind() != CommandKind::write || !cmd.as<WriteCmd>().fua || out.queued || out.result.err) return std::nullopt;
  struct Flush {
    bool done = false;
    int err = 0;
  };
  auto f = std::make_shared<Flush>();  // a held flush ends after this step
  const DmResult r = dm.submit(cmd.as<WriteCmd>().name, pool::BioOp::flush, 0, 0, false, {},
                               [f](int e, std::vector<std::byte>&) {
                                 f->done = true;
                                 f->err = e;
                               });
  if (r.err) return "error " + errno_label(r.err);
  if (!f->done) return "queued";
  if (f->err) return "error " + errno_label(f->err);
  return std::nullopt;
}

class Recorder final : public StepObserver {
 public:
  Recorder(const OracleCase& oc, std::vector<ModelStep>& steps) : oc_(oc), steps_(steps) {}
  std::optional<std::string> after_step(const Command& cmd, const StepOutcome& out, DmCore& dm) override {
    ModelStep s;
    const std::optional<std::string> flushed =
        oc_.journaled() ? std::nullopt : flush_after_fua_write(cmd, out, dm);
    if (flushed)
      s.outcome = *flushed;
    else if (out.queued)
      s.outcome = "queued";
    else if (out.result.err)
      s.outcome = "error " + errno_label(out.result.err);
    else if (cmd.kind() == CommandKind::status || cmd.kind() == CommandKind::table)
      s.outcome = "line " + rtrim(out.line.value_or(""));
    else if (cmd.kind() == CommandKind::event)
      s.outcome = out.new_events ? "event yes" : "event no";
    else
      s.outcome = "ok";
    if (cmd.kind() == CommandKind::read && !out.queued && !out.result.err) s.data = out.data;
    if (cmd.kind() == CommandKind::check && (out.result.err == 0 || out.result.err == EUCLEAN)) {
      // The guest copies the disk out instead of checking it: its bytes are the outcome
      // (the checker's verdict, EUCLEAN or not, is `thinsim run`'s business). A disk in
      // use (EBUSY) is refused on both sides.
      s.outcome = "ok";
      const OracleDisk* d = oc_.disk(cmd.as<CheckCmd>().name);
      if (auto* disk = dm.disk(cmd.as<CheckCmd>().name); disk && d) {
        s.data.assign(d->max_sectors * 512, std::byte{0});
        std::vector<std::byte> buf(disk->nr_sectors() * 512);
        disk->read(0, buf);
        std::copy_n(buf.begin(), std::min(buf.size(), s.data.size()), s.data.begin());
      }
    }
    const size_t i = steps_.size();
    if (i < oc_.commit_after.size() && oc_.commit_after[i])
      for (const std::string& p : oc_.pools) {
        if (!dm.is_mapped_device(p)) continue;
        std::string line;
        if (dm.status(p, false, line).err == 0) s.commits.push_back(p + " " + rtrim(line));
      }
    steps_.push_back(std::move(s));
    return std::nullopt;
  }

 private:
  const OracleCase& oc_;
  std::vector<ModelStep>& steps_;
};

}  // namespace

ModelSide::ModelSide(const OracleCase& oc) {
  Recorder rec(oc, steps_);
  runner_.add_observer(rec);
  runner_.set_require_success(false);
  runner_.run(oc.run);
}

uint64_t ModelSide::disk_bytes(const std::string& name) {
  auto* d = runner_.dm().disk_media(name);
  return d ? d->nr_sectors() * 512 : 0;
}

bool ModelSide::read_disk(const std::string& name, uint64_t offset, std::span<std::byte> out) {
  // Past any IO-error fault still on at the end: the guest's image is read on the host.
  auto* d = runner_.dm().disk_media(name);
  if (!d) return false;
  std::fill(out.begin(), out.end(), std::byte{0});
  const uint64_t size = d->nr_sectors() * 512;
  if (offset >= size) return true;
  // Whole sectors around the range.
  const uint64_t first = offset / 512;
  const uint64_t end = std::min(size, offset + out.size());
  const uint64_t last = (end + 511) / 512;
  std::vector<std::byte> buf((last - first) * 512);
  // An image holds what reads return; a latent error is a property of reads, not of it.
  if (auto* sim = dynamic_cast<sim::SimDisk*>(d)) sim->read_contents(first, buf);
  else d->read(first, buf);
  std::memcpy(out.data(), buf.data() + (offset - first * 512), end - offset);
  return true;
}

}  // namespace thinsim::kernel
