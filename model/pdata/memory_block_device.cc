#include "model/pdata/memory_block_device.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace thinsim::pdata {

MemoryBlockDevice::MemoryBlockDevice(uint64_t nr_sectors) : nr_sectors_(nr_sectors) {}

void MemoryBlockDevice::read(uint64_t sector, std::span<std::byte> buf) {
  check_io_range("read", sector, buf.size(), nr_sectors_);
  uint64_t offset = sector * 512;
  size_t done = 0;
  while (done < buf.size()) {
    uint64_t page = (offset + done) / kPageSize;
    size_t in_page = (offset + done) % kPageSize;
    size_t n = std::min(buf.size() - done, kPageSize - in_page);
    auto it = pages_.find(page);
    if (it == pages_.end())
      std::memset(buf.data() + done, 0, n);
    else
      std::memcpy(buf.data() + done, it->second->data() + in_page, n);
    done += n;
  }
}

void MemoryBlockDevice::write(uint64_t sector, std::span<const std::byte> buf, WriteFlags) {
  check_io_range("write", sector, buf.size(), nr_sectors_);
  uint64_t offset = sector * 512;
  size_t done = 0;
  while (done < buf.size()) {
    uint64_t page = (offset + done) / kPageSize;
    size_t in_page = (offset + done) % kPageSize;
    size_t n = std::min(buf.size() - done, kPageSize - in_page);
    auto& slot = pages_[page];
    if (!slot) {
      slot = std::make_unique<Page>();
      slot->fill(std::byte{0});
    }
    std::memcpy(slot->data() + in_page, buf.data() + done, n);
    done += n;
  }
}

void MemoryBlockDevice::discard(uint64_t sector, uint64_t nr_sectors) {
  check_io_range("discard", sector, 0, nr_sectors_);
  if (nr_sectors > nr_sectors_ - sector)
    throw std::invalid_argument("discard beyond device end");
  uint64_t end = sector + nr_sectors;
  while (sector < end) {
    uint64_t page = sector / kSectorsPerPage;
    uint64_t first = sector % kSectorsPerPage;
    uint64_t n = std::min<uint64_t>(end - sector, kSectorsPerPage - first);
    auto it = pages_.find(page);
    if (it != pages_.end()) {
      if (first == 0 && n == kSectorsPerPage)
        pages_.erase(it);
      else
        std::memset(it->second->data() + first * 512, 0, n * 512);
    }
    sector += n;
  }
}

void MemoryBlockDevice::resize(uint64_t nr_sectors) {
  if (nr_sectors < nr_sectors_) {
    // What lies beyond the new end is gone; growing again later shows zeroes there.
    const uint64_t keep_pages = (nr_sectors + kSectorsPerPage - 1) / kSectorsPerPage;
    std::erase_if(pages_, [&](const auto& p) { return p.first >= keep_pages; });
    if (nr_sectors % kSectorsPerPage) {
      auto it = pages_.find(nr_sectors / kSectorsPerPage);
      if (it != pages_.end()) {
        const size_t from = (nr_sectors % kSectorsPerPage) * 512;
        std::memset(it->second->data() + from, 0, kPageSize - from);
      }
    }
  }
  nr_sectors_ = nr_sectors;
}

}  // namespace thinsim::pdata
