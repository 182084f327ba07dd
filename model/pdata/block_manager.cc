#include "model/pdata/block_manager.h"

#include <utility>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "model/pdata/error.h"

namespace thinsim::pdata {

using detail::Buffer;

BlockRef& BlockRef::operator=(BlockRef&& o) noexcept {
  if (this != &o) {
    release();
    bm_ = o.bm_;
    buf_ = o.buf_;
    o.bm_ = nullptr;
    o.buf_ = nullptr;
  }
  return *this;
}

void BlockRef::release() {
  if (buf_) {
    bm_->unlock(buf_);
    buf_ = nullptr;
    bm_ = nullptr;
  }
}

BlockManager::BlockManager(BlockDevice& dev, size_t cache_blocks)
    : dev_(dev),
      capacity_(std::max<size_t>(cache_blocks, 16)) {}

BlockManager::~BlockManager() = default;

void BlockManager::check_block(block_t b) const {
  if (b >= nr_blocks())
    throw IoError(EIO, "metadata block " + std::to_string(b) + " is beyond the device end (" +
                           std::to_string(nr_blocks()) + " blocks)");
}

void BlockManager::lru_push(Buffer* buf) {
  buf->lru_prev = nullptr;
  buf->lru_next = lru_head_;
  if (lru_head_) lru_head_->lru_prev = buf;
  lru_head_ = buf;
  if (!lru_tail_) lru_tail_ = buf;
  buf->in_lru = true;
}

void BlockManager::lru_remove(Buffer* buf) {
  if (!buf->in_lru) return;
  if (buf->lru_prev) buf->lru_prev->lru_next = buf->lru_next; else lru_head_ = buf->lru_next;
  if (buf->lru_next) buf->lru_next->lru_prev = buf->lru_prev; else lru_tail_ = buf->lru_prev;
  buf->lru_prev = buf->lru_next = nullptr;
  buf->in_lru = false;
}

// dm-bufio clears a buffer's dirty bit when it submits the write, so a write that fails
// leaves the block clean in the cache (its new contents never reach the device), and the
// error surfaces at the next flush.
void BlockManager::write_back(Buffer* buf) {
  if (buf->validator) buf->validator->prepare_for_write(buf->data, buf->location);
  buf->dirty = false;
  try {
    dev_.write(buf->location * kSectorsPerMetadataBlock,
               std::span<const std::byte>(buf->data, kMetadataBlockSize));
  } catch (const IoError& e) {
    stats_.failed_writes++;
    if (!write_error_) write_error_ = e;
    return;
  }
  stats_.device_writes++;
}

void BlockManager::evict_if_needed() {
  while (buffers_.size() > capacity_ && lru_tail_) {
    Buffer* victim = lru_tail_;
    lru_remove(victim);
    if (victim->dirty) write_back(victim);
    drop(victim);
  }
}

void BlockManager::drop(Buffer* buf) {
  index_.set(buf->location, nullptr);
  buffers_.erase(buf->location);
}

Buffer* BlockManager::get(block_t b, bool read_from_device, bool& was_cached) {
  check_block(b);
  if (Buffer* cached = index_.get(b)) {
    was_cached = true;
    return cached;
  }
  was_cached = false;

  auto buf = std::make_unique<Buffer>();
  buf->location = b;
  buf->storage = std::make_unique<std::byte[]>(kMetadataBlockSize);
  buf->data = buf->storage.get();
  if (read_from_device) {
    dev_.read(b * kSectorsPerMetadataBlock, std::span<std::byte>(buf->data, kMetadataBlockSize));
    stats_.device_reads++;
  }
  Buffer* raw = buf.get();
  buffers_.emplace(b, std::move(buf));
  index_.set(b, raw);
  return raw;
}

void BlockManager::validate(Buffer* buf, const Validator* v) {
  if (!buf->validator) {
    if (!v) return;
    v->check(buf->data, buf->location);
    buf->validator = v;
  } else if (buf->validator != v) {
    throw CorruptionError(EINVAL, buf->location,
                          std::string("validator mismatch (old=") + buf->validator->name() +
                              " vs new=" + (v ? v->name() : "NULL") + ") for block " +
                              std::to_string(buf->location));
  }
}

ReadRef BlockManager::read_lock(block_t b, const Validator* v) {
  bool cached;
  Buffer* buf = get(b, true, cached);
  if (buf->writer)
    throw std::logic_error("read lock of block " + std::to_string(b) + " while write locked");
  try {
    validate(buf, v);
  } catch (...) {
    if (!cached && buf->readers == 0) drop(buf);
    throw;
  }
  lru_remove(buf);
  buf->readers++;
  nr_locked_++;
  evict_if_needed();
  return ReadRef(this, buf);
}

WriteRef BlockManager::write_lock(block_t b, const Validator* v) {
  if (read_only_) throw PdataError(EPERM, "block manager is read-only");
  bool cached;
  Buffer* buf = get(b, true, cached);
  if (buf->writer || buf->readers)
    throw std::logic_error("write lock of block " + std::to_string(b) + " while locked");
  try {
    validate(buf, v);
  } catch (...) {
    if (!cached) drop(buf);
    throw;
  }
  lru_remove(buf);
  buf->writer = true;
  nr_locked_++;
  evict_if_needed();
  return WriteRef(this, buf);
}

WriteRef BlockManager::write_lock_zero(block_t b, const Validator* v) {
  if (read_only_) throw PdataError(EPERM, "block manager is read-only");
  bool cached;
  Buffer* buf = get(b, false, cached);
  if (buf->writer || buf->readers)
    throw std::logic_error("write lock of block " + std::to_string(b) + " while locked");
  std::memset(buf->data, 0, kMetadataBlockSize);
  buf->validator = v;
  lru_remove(buf);
  buf->writer = true;
  nr_locked_++;
  evict_if_needed();
  return WriteRef(this, buf);
}

void BlockManager::unlock(Buffer* buf) {
  if (buf->writer) {
    buf->writer = false;
    buf->dirty = true;
  } else {
    buf->readers--;
  }
  nr_locked_--;
  if (!buf->writer && buf->readers == 0) {
    lru_push(buf);
    evict_if_needed();
  }
}

void BlockManager::flush() {
  if (read_only_) throw PdataError(EPERM, "block manager is read-only");
  std::vector<Buffer*> dirty;
  for (auto& [b, buf] : buffers_)
    if (buf->dirty) dirty.push_back(buf.get());
  // Ascending order keeps the device's IO trace deterministic.
  std::sort(dirty.begin(), dirty.end(),
            [](const Buffer* a, const Buffer* b) { return a->location < b->location; });
  for (Buffer* buf : dirty) write_back(buf);
  // dm_bufio_write_dirty_buffers writes everything, issues the flush, then reports the
  // first write error (of this flush or of an earlier eviction) before the flush's own.
  std::optional<IoError> write_error = std::exchange(write_error_, std::nullopt);
  try {
    dev_.flush();
  } catch (const IoError&) {
    if (!write_error) throw;
  }
  if (write_error) throw *write_error;
  stats_.flushes++;
}

void BlockManager::reset() {
  if (nr_locked_ != 0) throw std::logic_error("block manager reset with blocks locked");
  std::vector<Buffer*> dirty;
  for (auto& [b, buf] : buffers_)
    if (buf->dirty) dirty.push_back(buf.get());
  std::sort(dirty.begin(), dirty.end(),
            [](const Buffer* a, const Buffer* b) { return a->location < b->location; });
  // dm_bufio_client_reset / drop_buffers write dirty buffers asynchronously and ignore
  // the errors: a failed write leaves the device as it was.
  for (Buffer* buf : dirty) write_back(buf);
  write_error_.reset();
  buffers_.clear();
  index_.clear();
  lru_head_ = lru_tail_ = nullptr;
}

}  // namespace thinsim::pdata
