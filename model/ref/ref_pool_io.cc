// The IO paths: thin_bio_map, process_bio and its read-only variant, provisioning,
// breaking sharing, discards, flushes and the worker's commit.
#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <utility>

#include "model/ref/ref_pool.h"

namespace thinsim::ref {

void RefPool::check_io(uint32_t dev, uint64_t sectors) const {
  if (!state_.devices.contains(dev)) throw std::invalid_argument("ref: IO to a missing device");
  if (suspended_) throw std::logic_error("ref: IO while the pool is suspended");
  if (sectors == 0) throw std::invalid_argument("ref: IO must be whole, non-empty sectors");
}

bool RefPool::looks_shared(const Device& d, const Mapping& m) const {
  if (params_.sharing == SharingRule::kernel_time) return d.snapshotted_time > m.time;
  return state_.refs.at(m.token) > 1;
}

void RefPool::read_origin(uint32_t dev, uint64_t sector, std::span<std::byte> out) const {
  std::fill(out.begin(), out.end(), std::byte{0});
  const auto& origin = core_.at(dev).origin;
  if (!origin || sector >= origin->sectors) return;
  const uint64_t n = std::min<uint64_t>(out.size() / kSectorBytes, origin->sectors - sector);
  origin->read(sector, out.first(n * kSectorBytes));
}

// A newly provisioned block before the write lands: the external origin's copy where it
// has one, then zeros, or stale data with skip_block_zeroing (schedule_external_copy
// copies the origin whatever the zeroing setting; only the tail depends on it).
BlockContent RefPool::fresh_block(uint32_t dev, uint64_t block) const {
  const uint32_t bs = params_.block_sectors;
  BlockContent c(bs, !params_.skip_block_zeroing);
  const auto& origin = core_.at(dev).origin;
  if (origin && block * bs < origin->sectors) {
    std::vector<std::byte> buf(std::min<uint64_t>(bs, origin->sectors - block * bs) * kSectorBytes);
    origin->read(block * bs, buf);
    c.write(0, buf);
  }
  return c;
}

ReadResult RefPool::read(uint32_t dev, uint64_t sector, uint64_t nr_sectors) {
  check_io(dev, nr_sectors);
  if (mode_ == Mode::fail) return {EIO, {}, {}};
  ReadResult out;
  out.data.resize(nr_sectors * kSectorBytes);
  const Device& d = state_.devices.at(dev);
  const uint32_t bs = params_.block_sectors;
  bool woken = false;  // unmapped and shared blocks go through the worker
  for (uint64_t s = sector; s < sector + nr_sectors;) {
    const uint32_t first = s % bs;
    const uint64_t n = std::min<uint64_t>(bs - first, sector + nr_sectors - s);
    std::span<std::byte> buf(out.data.data() + (s - sector) * kSectorBytes, n * kSectorBytes);
    auto it = d.blocks.find(s / bs);
    if (it != d.blocks.end()) {
      woken |= looks_shared(d, it->second);
      content_.at(it->second.token).read(first, buf, out.defined);
    } else {
      woken = true;
      read_origin(dev, s, buf);
      out.defined.insert(out.defined.end(), n, true);
    }
    s += n;
  }
  if (woken) run_worker();
  return out;
}

IoResult RefPool::write(uint32_t dev, uint64_t sector, std::span<const std::byte> data, bool fua) {
  if (data.size() % kSectorBytes) throw std::invalid_argument("ref: IO must be whole sectors");
  const uint64_t nr_sectors = data.size() / kSectorBytes;
  check_io(dev, nr_sectors);
  const uint32_t bs = params_.block_sectors;
  std::vector<Piece> pieces;
  for (uint64_t s = sector; s < sector + nr_sectors;) {
    const uint32_t first = s % bs;
    const uint64_t n = std::min<uint64_t>(bs - first, sector + nr_sectors - s);
    auto bytes = data.subspan((s - sector) * kSectorBytes, n * kSectorBytes);
    pieces.push_back({next_io_, dev, s / bs, first, {bytes.begin(), bytes.end()}, fua, false});
    s += n;
  }
  return submit(std::move(pieces));
}

// Reaches the thin target as an empty write to sector 0 (dm's empty flush bio).
IoResult RefPool::flush(uint32_t dev) {
  check_io(dev, 1);
  return submit({Piece{next_io_, dev, 0, 0, {}, false, true}});
}

IoResult RefPool::submit(std::vector<Piece> pieces) {
  const IoHandle h = next_io_++;
  ios_[h] = Io{pieces.size(), 0};
  // dm core submits the pieces one after another, and the worker runs whenever one is
  // deferred to it (the harness runs it to completion then): a periodic commit can fall
  // between two pieces of one IO.
  for (Piece& p : pieces)
    if (dispatch(std::move(p))) run_worker();
  const Io& io = ios_.at(h);
  if (io.outstanding) return {IoStatus::queued, 0, h};
  return {io.error ? IoStatus::error : IoStatus::ok, io.error, h};
}

std::optional<int> RefPool::completion(IoHandle handle) const {
  const Io& io = ios_.at(handle);
  if (io.outstanding) return std::nullopt;
  return io.error;
}

void RefPool::finish(IoHandle h, int err) {
  Io& io = ios_.at(h);
  if (!io.error) io.error = err;
  --io.outstanding;
}

void RefPool::error_queued(int err) {
  for (Piece& p : std::exchange(retry_, {})) finish(p.io, err);
}

// Returns whether the piece went through the worker rather than thin_bio_map's fast path.
bool RefPool::dispatch(Piece p) {
  int err = 0;
  bool woken = false;
  switch (serve(p, err, woken)) {
    case Step::done: finish(p.io, err); break;
    case Step::queued: retry_.push_back(std::move(p)); break;
    case Step::after_commit: flush_waiters_.push_back(p.io); break;
  }
  return woken;
}

RefPool::Step RefPool::serve(Piece& p, int& err, bool& woken) {
  auto dit = state_.devices.find(p.dev);
  if (mode_ == Mode::fail || dit == state_.devices.end()) return failed(err, EIO);
  Device& d = dit->second;
  auto it = d.blocks.find(p.block);
  const bool mapped = it != d.blocks.end();
  const bool shared = mapped && looks_shared(d, it->second);
  woken = !mapped || shared || p.fua || p.flush;
  if (p.flush) {
    // process_bio_read_only looks block 0 up and refuses the empty write if unmapped.
    if (!mapped && mode_ != Mode::write) return unserviceable(err);
    return issue(p, err);
  }
  if (mapped && !shared) {  // remap in place: no metadata change
    // A FUA write waits for a commit before it is issued; if none can happen, it fails.
    const DeviceCore& c = core_.at(p.dev);
    if (p.fua && c.changed && (c.aborted_with_changes || mode_ >= Mode::out_of_metadata_space))
      return failed(err, EIO);
    content_.at(it->second.token).write(p.first, p.data);
    return issue(p, err);
  }
  // Provision or break sharing: both need a new data block.
  if (mode_ != Mode::write) return unserviceable(err);
  const std::optional<uint64_t> token = alloc();
  if (!token) return unserviceable(err);
  const uint32_t bs = params_.block_sectors;
  const bool whole = p.data.size() == bs * kSectorBytes;
  BlockContent c = whole    ? BlockContent(bs, true)
                   : mapped ? content_.at(it->second.token)  // copy the shared block
                            : fresh_block(p.dev, p.block);
  c.write(p.first, p.data);
  content_.emplace(*token, std::move(c));
  if (mapped) unref(it->second.token, false);
  d.blocks[p.block] = Mapping{*token, time_};
  core_.at(p.dev).changed = true;
  return issue(p, err);
}

// handle_unserviceable_bio: queue while out of data space, unless error_if_no_space.
RefPool::Step RefPool::unserviceable(int& err) const {
  if (mode_ == Mode::out_of_data_space && !error_if_no_space_) return Step::queued;
  err = mode_ == Mode::out_of_data_space ? ENOSPC : EIO;
  return Step::done;
}

// issue(): a flush or FUA bio to a device changed in this transaction completes after a
// commit; it fails at once if an abort threw that device's changes away.
RefPool::Step RefPool::issue(const Piece& p, int& err) const {
  const DeviceCore& c = core_.at(p.dev);
  if (!(p.fua || p.flush) || !c.changed) return Step::done;
  return c.aborted_with_changes ? failed(err, EIO) : Step::after_commit;
}

void RefPool::take_device_io(uint32_t dev) {
  std::deque<Piece>& out = handed_back_[dev];
  for (std::deque<Piece>* q : {&deferred_, &retry_})  // the deferred lists, then the retry list
    for (auto it = q->begin(); it != q->end();)
      if (it->dev == dev) {
        out.push_back(std::move(*it));
        it = q->erase(it);
      } else {
        ++it;
      }
}

void RefPool::resubmit_device_io(uint32_t dev) {
  auto it = handed_back_.find(dev);
  if (it == handed_back_.end()) return;
  std::deque<Piece> pieces = std::move(it->second);
  handed_back_.erase(it);
  if (!pieces.empty()) check_io(dev, 1);
  // dm core submits the pieces one after another, and the worker runs whenever one is
  // deferred to it (the harness runs it to completion then): a periodic commit can fall
  // between two pieces of one IO.
  for (Piece& p : pieces)
    if (dispatch(std::move(p))) run_worker();
}

// One worker pass (process_deferred_bios): requeued IO first, in order, then the commit
// that waiting flushes need, or the periodic one when something changed and a second has
// passed since the worker last committed.
void RefPool::run_worker() {
  while (!suspended_) {
    while (!deferred_.empty()) {
      Piece p = std::move(deferred_.front());
      deferred_.pop_front();
      dispatch(std::move(p));
    }
    // need_commit_due_to_time: !time_in_range(now, last, last + period), an inclusive range.
    const bool due = any_changed() && now_ - last_commit_ > kCommitPeriodMs;
    if (flush_waiters_.empty() && !due) return;
    const bool ok = commit();
    if (ok) last_commit_ = now_;
    for (IoHandle h : std::exchange(flush_waiters_, {})) finish(h, ok ? 0 : EIO);
    if (deferred_.empty()) return;
  }
}

int RefPool::discard(uint32_t dev, uint64_t sector, uint64_t nr_sectors) {
  check_io(dev, nr_sectors);
  if (params_.ignore_discard) return EOPNOTSUPP;  // the thin device offers no discard
  if (mode_ == Mode::fail) return EIO;
  // Only whole blocks inside the range; read-only modes complete discards doing nothing.
  const uint32_t bs = params_.block_sectors;
  const uint64_t begin = (sector + bs - 1) / bs, end = (sector + nr_sectors) / bs;
  if (mode_ < Mode::out_of_metadata_space && begin < end) {
    auto& blocks = state_.devices.at(dev).blocks;
    auto it = blocks.lower_bound(begin);
    // Without passdown the whole range is removed, which marks the device changed even
    // when nothing was mapped; passdown removes only the mapped runs.
    if (params_.no_discard_passdown || (it != blocks.end() && it->first < end))
      core_.at(dev).changed = true;
    for (; it != blocks.end() && it->first < end; it = blocks.erase(it)) unref(it->second.token, true);
  }
  run_worker();  // every discard goes through the worker
  return 0;
}

}  // namespace thinsim::ref
