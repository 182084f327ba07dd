#include "bench/pool_xml.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace thinsim::bench {

namespace {

// splitmix64: tiny, fully specified, so the XML does not depend on the standard
// library's distribution implementations.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for n > 0 (multiply-shift; the bias is irrelevant here).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }

 private:
  uint64_t state_;
};

// The first `count` entries of a random permutation of [0, n).
std::vector<uint32_t> shuffled_prefix(Rng& rng, uint64_t n, uint64_t count) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0u);
  for (uint64_t i = 0; i < count; ++i) std::swap(v[i], v[i + rng.below(n - i)]);
  v.resize(count);
  v.shrink_to_fit();
  return v;
}

// Buffered XML output with thin_dump's run coalescing.
class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "w")) {
    if (!f_) fail("cannot create");
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~Writer() {
    if (f_) std::fclose(f_);
  }

  void superblock(uint64_t time, uint64_t transaction, uint32_t data_block_size, uint64_t nr_data_blocks) {
    lit("<superblock uuid=\"\" time=\"");
    num(time);
    lit("\" transaction=\"");
    num(transaction);
    lit("\" flags=\"0\" version=\"2\" data_block_size=\"");
    num(data_block_size);
    lit("\" nr_data_blocks=\"");
    num(nr_data_blocks);
    lit("\">\n");
    put();
  }
  void end_superblock() {
    lit("</superblock>\n");
    put();
  }
  void device(uint64_t id, uint64_t mapped, uint64_t creation_time, uint64_t snap_time) {
    lit("  <device dev_id=\"");
    num(id);
    lit("\" mapped_blocks=\"");
    num(mapped);
    lit("\" transaction=\"0\" creation_time=\"");
    num(creation_time);
    lit("\" snap_time=\"");
    num(snap_time);
    lit("\">\n");
    put();
  }
  void end_device() {
    emit();
    lit("  </device>\n");
    put();
  }
  // Mappings of one device in ascending origin order.
  void map(uint64_t origin, uint64_t data, uint32_t time) {
    ++stats.mappings;
    if (len_ > 0 && origin == origin_ + len_ && data == data_ + len_ && time == time_) {
      ++len_;
      return;
    }
    emit();
    origin_ = origin, data_ = data, time_ = time, len_ = 1;
  }
  void close() {
    if (std::fflush(f_) != 0) fail("cannot write");
    long size = std::ftell(f_);
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      fail("cannot write");
    }
    f_ = nullptr;
    stats.bytes = static_cast<uint64_t>(size);
  }

  PoolStats stats;

 private:
  void emit() {
    if (len_ == 0) return;
    ++stats.runs;
    if (len_ == 1) {
      lit("    <single_mapping origin_block=\"");
      num(origin_);
      lit("\" data_block=\"");
      num(data_);
    } else {
      lit("    <range_mapping origin_begin=\"");
      num(origin_);
      lit("\" data_begin=\"");
      num(data_);
      lit("\" length=\"");
      num(len_);
    }
    lit("\" time=\"");
    num(time_);
    lit("\"/>\n");
    put();
    len_ = 0;
  }
  // Lines are assembled in a fixed buffer (at most ~200 bytes: literals and 20-digit numbers).
  template <size_t N>
  void lit(const char (&s)[N]) {
    std::memcpy(pos_, s, N - 1);
    pos_ += N - 1;
  }
  void num(uint64_t v) { pos_ = std::to_chars(pos_, line_ + sizeof line_, v).ptr; }
  void put() {
    size_t n = static_cast<size_t>(pos_ - line_);
    pos_ = line_;
    if (std::fwrite(line_, 1, n, f_) != n) fail("cannot write");
  }
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string(what) + " " + path_ + ": " + std::strerror(errno));
  }

  std::string path_;
  std::FILE* f_;
  char line_[512];
  char* pos_ = line_;
  uint64_t origin_ = 0, data_ = 0, len_ = 0;
  uint32_t time_ = 0;
};

// Blocks per device: as even as possible, the first devices taking the remainder.
uint64_t device_share(const PoolSpec& spec, uint32_t dev) {
  return spec.mappings / spec.devices + (dev < spec.mappings % spec.devices ? 1 : 0);
}

uint64_t at_least_1024(uint64_t n) { return n < 1024 ? 1024 : n; }

void check_data_blocks(uint64_t n) {
  if (n > std::numeric_limits<uint32_t>::max()) throw std::invalid_argument("pool too large for the generator");
}

void gen_random(const PoolSpec& spec, Rng& rng, Writer& w) {
  uint64_t nr_data_blocks = at_least_1024(2 * spec.mappings);
  check_data_blocks(nr_data_blocks);
  std::vector<uint32_t> data = shuffled_prefix(rng, nr_data_blocks, spec.mappings);
  w.stats.nr_data_blocks = nr_data_blocks;
  w.stats.max_sharing = spec.mappings > 0 ? 1 : 0;
  w.superblock(0, 1, spec.data_block_size, nr_data_blocks);
  uint64_t next = 0;
  for (uint32_t dev = 0; dev < spec.devices; ++dev) {
    uint64_t k = device_share(spec, dev);
    w.device(dev, k, 0, 0);
    for (uint64_t i = 0; i < k; ++i) w.map(i, data[next++], 0);
    w.end_device();
  }
  w.end_superblock();
}

void gen_sequential(const PoolSpec& spec, Rng& rng, Writer& w) {
  // Lay the runs out first: nr_data_blocks must be known for the superblock line.
  struct Run {
    uint64_t origin, data, length;
  };
  std::vector<std::vector<Run>> runs(spec.devices);
  uint64_t data = 0;
  for (uint32_t dev = 0; dev < spec.devices; ++dev) {
    uint64_t left = device_share(spec, dev), origin = 0;
    while (left > 0) {
      uint64_t len = 1 + rng.below(128);
      if (len > left) len = left;
      runs[dev].push_back({origin, data, len});
      left -= len;
      origin += len + rng.below(4);  // origin gaps of 0..3 blocks
      data += len + 1 + rng.below(16);  // a data gap of at least one keeps runs apart
    }
  }
  uint64_t nr_data_blocks = at_least_1024((data + 1023) / 1024 * 1024 + 1024);
  check_data_blocks(nr_data_blocks);
  w.stats.nr_data_blocks = nr_data_blocks;
  w.stats.max_sharing = spec.mappings > 0 ? 1 : 0;
  w.superblock(0, 1, spec.data_block_size, nr_data_blocks);
  for (uint32_t dev = 0; dev < spec.devices; ++dev) {
    w.device(dev, device_share(spec, dev), 0, 0);
    for (const Run& r : runs[dev])
      for (uint64_t i = 0; i < r.length; ++i) w.map(r.origin + i, r.data + i, 0);
    w.end_device();
  }
  w.end_superblock();
}

void gen_shared(const PoolSpec& spec, Rng& rng, Writer& w) {
  // Device 0 is the origin, written at time 0. Device i is a snapshot of device i-1 taken
  // at time i (keeping its first k_i blocks), after which an exact eighth of its blocks
  // are rewritten to fresh data blocks at time i.
  std::vector<uint64_t> k(spec.devices), rewrites(spec.devices, 0);
  uint64_t unique = 0;
  for (uint32_t dev = 0; dev < spec.devices; ++dev) {
    k[dev] = device_share(spec, dev);
    rewrites[dev] = dev == 0 ? k[dev] : k[dev] / 8;
    unique += rewrites[dev];
  }
  uint64_t nr_data_blocks = at_least_1024(2 * unique);
  check_data_blocks(nr_data_blocks);
  std::vector<uint32_t> fresh = shuffled_prefix(rng, nr_data_blocks, unique);
  uint64_t next_fresh = 0;
  w.stats.nr_data_blocks = nr_data_blocks;
  uint32_t last = spec.devices - 1;
  w.superblock(last, 1, spec.data_block_size, nr_data_blocks);

  std::vector<uint32_t> data(k.empty() ? 0 : k[0]), time(data.size(), 0);
  std::vector<uint32_t> sharing(data.size(), 1);  // devices mapping the block in this slot
  std::vector<uint32_t> positions;
  for (uint32_t dev = 0; dev < spec.devices; ++dev) {
    if (dev == 0) {
      for (uint64_t i = 0; i < k[0]; ++i) data[i] = fresh[next_fresh++];
    } else {
      for (uint64_t i = 0; i < k[dev]; ++i) ++sharing[i];
      positions.resize(k[dev]);
      std::iota(positions.begin(), positions.end(), 0u);
      for (uint64_t i = 0; i < rewrites[dev]; ++i) {
        std::swap(positions[i], positions[i + rng.below(k[dev] - i)]);
        uint32_t p = positions[i];
        data[p] = fresh[next_fresh++];
        time[p] = dev;
        sharing[p] = 1;
      }
    }
    for (uint64_t i = 0; i < k[dev]; ++i)
      if (sharing[i] > w.stats.max_sharing) w.stats.max_sharing = sharing[i];
    w.device(dev, k[dev], dev, dev == last ? dev : dev + 1);
    for (uint64_t i = 0; i < k[dev]; ++i) w.map(i, data[i], time[i]);
    w.end_device();
  }
  w.end_superblock();
}

}  // namespace

const char* shape_name(PoolShape shape) {
  switch (shape) {
    case PoolShape::random: return "random";
    case PoolShape::sequential: return "sequential";
    case PoolShape::shared: return "shared";
  }
  return "?";
}

PoolStats write_pool_xml(const PoolSpec& spec, uint64_t seed, const std::string& path) {
  if (spec.devices == 0) throw std::invalid_argument("a pool needs at least one device");
  Rng rng(seed);
  Writer w(path);
  switch (spec.shape) {
    case PoolShape::random: gen_random(spec, rng, w); break;
    case PoolShape::sequential: gen_sequential(spec, rng, w); break;
    case PoolShape::shared: gen_shared(spec, rng, w); break;
  }
  w.close();
  return w.stats;
}

}  // namespace thinsim::bench
