// thinsim-pool-bench: the live pool's metadata path.
//  1. Provisioning: mappings per second through the path a write to an unprovisioned
//     block takes (find_block miss, alloc_data_block, insert_block), committing every
//     --commit-every provisions, on the memory disk; and the same through the thin
//     target with whole-block writes (data copied into a memory data device).
//  2. Lookup cost against snapshot depth: find_block on the newest snapshot of a chain
//     1, 10, 100 and 1000 snapshots deep, printed as ratios to depth 1.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "model/pdata/memory_block_device.h"
#include "model/pool/pool_registry.h"
#include "model/pool/pool_target.h"
#include "model/pool/thin_target.h"
#include "model/thin/pool_metadata.h"

using namespace thinsim;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double provision_metadata_path(uint64_t n, uint64_t commit_every) {
  pdata::MemoryBlockDevice meta(2 * 1024 * 1024);  // 1 GiB of metadata
  thin::PoolMetadata pmd(meta, {});
  pmd.resize_data_dev(n + 1024);
  pmd.create_thin(0);
  pmd.commit();
  thin::ThinDevice& td = pmd.open_thin(0);
  auto t0 = Clock::now();
  for (uint64_t b = 0; b < n; ++b) {
    if (pmd.find_block(td, b)) std::abort();
    pmd.insert_block(td, b, pmd.alloc_data_block());
    if ((b + 1) % commit_every == 0) pmd.commit();
  }
  pmd.commit();
  double s = seconds_since(t0);
  pmd.close_thin(td);
  return n / s;
}

double provision_io_path(uint64_t n) {
  pdata::MemoryBlockDevice meta(2 * 1024 * 1024);
  pdata::MemoryBlockDevice data((n + 16) * 128);
  pool::PoolRegistry reg;
  pool::PoolTableArgs args;
  args.metadata_name = "meta";
  args.data_name = "data";
  args.metadata_dev = &meta;
  args.data_dev = &data;
  args.block_size = 128;
  pool::PoolTarget pt(reg, "pool", (n + 16) * 128, args, 0);
  pt.preresume();
  pt.resume();
  pt.message({"create_thin", "0"});
  pool::ThinTarget thin(pt.pool_ptr(), 0, nullptr);
  std::vector<std::byte> payload(64 * 1024, std::byte{0x5a});
  uint64_t ok = 0;
  auto t0 = Clock::now();
  for (uint64_t b = 0; b < n; ++b) {
    auto bio = std::make_unique<pool::Bio>();
    bio->op = pool::BioOp::write;
    bio->sector = b * 128;
    bio->nr_sectors = 128;
    bio->data = payload;
    bio->end_io = [&ok](pool::Bio&, int err) { ok += !err; };
    thin.map(std::move(bio));
  }
  pt.pool().commit();
  double s = seconds_since(t0);
  if (ok != n) std::fprintf(stderr, "warning: %llu of %llu writes failed\n",
                            (unsigned long long)(n - ok), (unsigned long long)n);
  return n / s;
}

// Nanoseconds per find_block on the newest snapshot of a chain `depth` deep. Every run
// has the same number of snapshots (the rest are snapshots of the origin), so the
// top-level tree is the same size and only the depth differs.
double lookup_at_depth(unsigned depth, unsigned snapshots, uint64_t mapped, uint64_t lookups) {
  pdata::MemoryBlockDevice meta(2 * 1024 * 1024);
  thin::PoolMetadata pmd(meta, {});
  pmd.resize_data_dev(mapped + 1024);
  pmd.create_thin(0);
  {
    thin::ThinDevice& td = pmd.open_thin(0);
    for (uint64_t b = 0; b < mapped; ++b) pmd.insert_block(td, b, pmd.alloc_data_block());
    pmd.close_thin(td);
  }
  for (unsigned d = 1; d <= depth; ++d) pmd.create_snap(d, d - 1);
  for (unsigned d = depth + 1; d <= snapshots; ++d) pmd.create_snap(d, 0);
  pmd.commit();
  thin::ThinDevice& td = pmd.open_thin(depth);
  std::mt19937_64 rng(42);
  uint64_t found = 0;
  for (uint64_t i = 0; i < lookups / 10; ++i) found += pmd.find_block(td, rng() % mapped).has_value();
  found = 0;
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < lookups; ++i) found += pmd.find_block(td, rng() % mapped).has_value();
  double s = seconds_since(t0);
  if (found != lookups) std::abort();
  pmd.close_thin(td);
  return s * 1e9 / lookups;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"thinsim-pool-bench: provisioning rate and lookup cost against snapshot depth"};
  uint64_t n = 1'000'000, commit_every = 10'000, lookups = 1'000'000, mapped = 100'000;
  app.add_option("--provisions", n, "Blocks to provision")->capture_default_str();
  app.add_option("--commit-every", commit_every, "Commit after this many provisions")->capture_default_str();
  app.add_option("--lookups", lookups, "Lookups per depth")->capture_default_str();
  app.add_option("--mapped", mapped, "Mapped blocks of the snapshot chain's origin")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  double meta_rate = provision_metadata_path(n, commit_every);
  std::printf("provisioning, metadata path: %.0f mappings/s (%llu mappings, commit every %llu)\n",
              meta_rate, (unsigned long long)n, (unsigned long long)commit_every);
  uint64_t io_n = std::min<uint64_t>(n, 200'000);
  double io_rate = provision_io_path(io_n);
  std::printf("provisioning, thin target with 64 KiB writes: %.0f mappings/s (%llu writes)\n",
              io_rate, (unsigned long long)io_n);
  double base = 0;
  for (unsigned depth : {1u, 10u, 100u, 1000u}) {
    double ns = lookup_at_depth(depth, 1000, mapped, lookups);
    if (depth == 1) base = ns;
    std::printf("lookup at snapshot depth %4u (of 1000 snapshots): %7.1f ns  (%.2fx depth 1)\n",
                depth, ns, ns / base);
  }
  return 0;
}
