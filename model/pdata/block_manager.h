// The block manager: 4 KiB metadata blocks over a BlockDevice, with read/write locks,
// per-type validators and a write-back cache (the role dm-bufio plays in the kernel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/pdata/block_device.h"
#include "model/pdata/block_index.h"
#include "model/pdata/error.h"
#include "model/pdata/geometry.h"
#include "model/pdata/validator.h"

namespace thinsim::pdata {

class BlockManager;

namespace detail {
struct Buffer {
  block_t location = 0;
  std::unique_ptr<std::byte[]> storage;
  std::byte* data = nullptr;
  const Validator* validator = nullptr;  // set once validated or created
  int readers = 0;
  bool writer = false;
  bool dirty = false;
  Buffer* lru_prev = nullptr;  // list of unlocked buffers, most recent at head
  Buffer* lru_next = nullptr;
  bool in_lru = false;
};
}  // namespace detail

// A held lock on a cached block; releasing it (destruction) unlocks. Move-only.
class BlockRef {
 public:
  BlockRef() = default;
  BlockRef(BlockRef&& o) noexcept : bm_(o.bm_), buf_(o.buf_) { o.bm_ = nullptr, o.buf_ = nullptr; }
  BlockRef& operator=(BlockRef&& o) noexcept;
  BlockRef(const BlockRef&) = delete;
  BlockRef& operator=(const BlockRef&) = delete;
  ~BlockRef() { release(); }

  explicit operator bool() const { return buf_ != nullptr; }
  block_t location() const { return buf_->location; }
  const std::byte* data() const { return buf_->data; }
  void release();

 protected:
  BlockRef(BlockManager* bm, detail::Buffer* buf) : bm_(bm), buf_(buf) {}
  BlockManager* bm_ = nullptr;
  detail::Buffer* buf_ = nullptr;
  friend class BlockManager;
};

class ReadRef : public BlockRef {
 public:
  ReadRef() = default;

 private:
  using BlockRef::BlockRef;
  friend class BlockManager;
};

class WriteRef : public BlockRef {
 public:
  WriteRef() = default;
  std::byte* data() { return buf_->data; }
  const std::byte* data() const { return buf_->data; }

 private:
  using BlockRef::BlockRef;
  friend class BlockManager;
};

struct BlockManagerStats {
  uint64_t device_reads = 0;   // blocks read from the device
  uint64_t device_writes = 0;  // blocks written to the device
  uint64_t failed_writes = 0;  // write-backs the device refused while dropping buffers
  uint64_t flushes = 0;
};

class BlockManager {
 public:
  static constexpr size_t kDefaultCacheBlocks = 1024;  // 4 MiB

  explicit BlockManager(BlockDevice& dev, size_t cache_blocks = kDefaultCacheBlocks);
  ~BlockManager();
  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;

  // Device size in whole 4 KiB blocks.
  // The device's size now, not when the manager was made (dm_bm_nr_blocks asks dm-bufio,
  // which reads the block device's size): a metadata device grown under the pool is
  // usable at once.
  block_t nr_blocks() const { return dev_.nr_sectors() / kSectorsPerMetadataBlock; }
  BlockDevice& device() { return dev_; }

  // A null validator reads the raw block (used to test for an all-zero superblock).
  ReadRef read_lock(block_t b, const Validator* v);
  WriteRef write_lock(block_t b, const Validator* v);
  // Locks b for writing with zeroed contents, without reading it.
  WriteRef write_lock_zero(block_t b, const Validator* v);

  // Writes every dirty block (stamping it through its validator), then flushes the
  // device so they are durable. Locked blocks are written too, as dm-bufio does.
  void flush();
  // Writes dirty blocks back (without a flush) and forgets every cached block, as
  // dm-bufio's drop_buffers does when a transaction is aborted or the client torn down:
  // write errors are counted, not thrown. No block may be locked.
  void reset();

  void set_read_only(bool ro) { read_only_ = ro; }
  bool read_only() const { return read_only_; }
  const BlockManagerStats& stats() const { return stats_; }
  size_t nr_locked() const { return nr_locked_; }

 private:
  friend class BlockRef;
  // The cached buffer for b, read from the device (or zeroed) if it was not cached;
  // `was_cached` tells which.
  detail::Buffer* get(block_t b, bool read_from_device, bool& was_cached);
  void drop(detail::Buffer* buf);
  void validate(detail::Buffer* buf, const Validator* v);
  void unlock(detail::Buffer* buf);
  void write_back(detail::Buffer* buf);
  void lru_push(detail::Buffer* buf);
  void lru_remove(detail::Buffer* buf);
  void evict_if_needed();
  void check_block(block_t b) const;

  BlockDevice& dev_;
  size_t capacity_;
  bool read_only_ = false;
  std::unordered_map<block_t, std::unique_ptr<detail::Buffer>> buffers_;  // owns them
  BlockIndex<detail::Buffer*> index_;                                      // finds them
  detail::Buffer* lru_head_ = nullptr;
  detail::Buffer* lru_tail_ = nullptr;
  size_t nr_locked_ = 0;
  BlockManagerStats stats_;
  std::optional<IoError> write_error_;  // a failed write not yet reported by flush()
};

}  // namespace thinsim::pdata
