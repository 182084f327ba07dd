// Micro-benchmarks of the model's hot paths: the metadata checksum and single-level
// btree insert/lookup over an in-memory metadata device. Run: thinsim-micro-bench
// (any Google Benchmark flag works, e.g. --benchmark_filter=Crc32c).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/pdata/block_manager.h"
#include "model/pdata/btree.h"
#include "model/pdata/checksum.h"
#include "model/pdata/endian.h"
#include "model/pdata/memory_block_device.h"
#include "model/pdata/space_map_metadata.h"

namespace {

using namespace thinsim::pdata;

void BM_Crc32c(benchmark::State& state) {
  std::vector<std::byte> buf(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::byte>(i * 131 + 7);
  uint32_t crc = 0xffffffffu;
  for (auto _ : state) {
    crc = crc32c_update(crc, buf.data(), buf.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(64)->Arg(512)->Arg(4096);

// A fresh 64 MiB in-memory metadata device with its transaction manager and a btree of
// 8-byte values.
struct Pool {
  MemoryBlockDevice dev{uint64_t{64} << 11};
  BlockManager bm{dev};
  MetadataTransaction mt = create_metadata_transaction(bm, 0);
  PlainValueType vt{8};
  BtreeInfo info{*mt.tm, 1, vt};
  block_t root = btree_empty(info);

  void insert(uint64_t key) {
    std::byte value[8];
    store_le64(value, key * 3);
    root = btree_insert(info, root, std::span<const uint64_t>(&key, 1), value).new_root;
  }
};

// splitmix64 keys: a fixed pseudo-random order.
std::vector<uint64_t> keys(size_t n, bool random) {
  std::vector<uint64_t> v(n);
  uint64_t s = 42;
  for (size_t i = 0; i < n; ++i) {
    if (!random) {
      v[i] = i;
      continue;
    }
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    v[i] = (z ^ (z >> 31)) >> 24;  // 40 bits, like data block numbers
  }
  return v;
}

void BM_BtreeInsert(benchmark::State& state, bool random) {
  std::vector<uint64_t> ks = keys(static_cast<size_t>(state.range(0)), random);
  for (auto _ : state) {
    state.PauseTiming();
    auto pool = std::make_unique<Pool>();
    state.ResumeTiming();
    for (uint64_t k : ks) pool->insert(k);
    benchmark::DoNotOptimize(pool->root);
    state.PauseTiming();
    pool.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK_CAPTURE(BM_BtreeInsert, sequential, false)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BtreeInsert, random, true)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

void BM_BtreeLookup(benchmark::State& state) {
  std::vector<uint64_t> ks = keys(static_cast<size_t>(state.range(0)), true);
  Pool pool;
  for (uint64_t k : ks) pool.insert(k);
  size_t i = 0;
  std::byte value[8];
  for (auto _ : state) {
    uint64_t k = ks[i];
    if (++i == ks.size()) i = 0;
    bool found = btree_lookup(pool.info, pool.root, std::span<const uint64_t>(&k, 1), value);
    if (!found) state.SkipWithError("key not found");
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BtreeLookup)->Arg(10'000)->Arg(100'000);

}  // namespace

BENCHMARK_MAIN();
