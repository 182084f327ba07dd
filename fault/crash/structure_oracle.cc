#include "fault/crash/crash_oracle.h"
#include "model/pdata/error.h"
#include "model/thin/pool_metadata.h"

namespace thinsim::fault {
namespace {

class StructureOracle final : public CrashOracle {
 public:
  const char* name() const override { return "structure"; }
  std::optional<std::string> judge(CrashContext& ctx) override {
    if (ctx.view.unformatted) return std::nullopt;  // a new pool would be formatted here
    if (!ctx.view.check_passed && !(ctx.data_leaks_allowed && ctx.view.only_data_leaks) &&
        !held_by_passdown(ctx)) {
      // A superblock write torn inside a sector (a device without sector atomicity)
      // leaves a superblock whose checksum fails: the kernel refuses the pool, and so
      // would we. That is the device breaking its contract, not the pool.
      bool torn_superblock = false;
      for (uint64_t s = 0; s < 8; ++s)
        if (const SurvivingSector* v = ctx.meta.survivor(s); v && v->wild) torn_superblock = true;
      if (torn_superblock && ctx.view.check_problem.rfind("block 0 ", 0) == 0) {
        ctx.refused = true;
        return std::nullopt;
      }
      return "the recovered metadata fails the check: " + ctx.view.check_problem;
    }
    // The checker passed it, so the kernel opens it: the model must too.
    try {
      thin::PoolMetadata::Options o;
      o.data_block_size = ctx.view.data_block_sectors;
      o.format_device = false;
      o.cache_blocks = 64;  // a small pool: no need for the default cache
      thin::PoolMetadata md(ctx.meta, o);
    } catch (const pdata::PdataError& e) {
      return std::string("the model cannot open metadata the checker passes: ") + e.what();
    }
    return std::nullopt;
  }

 private:
  // A passed-down discard unmaps its blocks and takes an extra reference on them in one
  // worker pass, and drops it when the data device completes the discard, in a later one
  // (dm-thin.c, process_prepared_discard_passdown_pt1/pt2: so the blocks cannot be
  // reallocated while the discard is in flight). A commit between the halves is durable
  // with the extra counts, so a crash may leave them: allowed only in a commit written
  // while such a discard was in flight, one the data device saw since the commit before.
  static bool held_by_passdown(const CrashContext& ctx) {
    if (!ctx.view.only_data_excess) return false;
    const CommitRecord* c = ctx.commits.match(ctx.view.fingerprint);
    return c && ctx.data_history.discarded_between(c->previous_seq, c->seq);
  }
};

}  // namespace

std::unique_ptr<CrashOracle> make_structure_oracle() { return std::make_unique<StructureOracle>(); }

std::vector<std::unique_ptr<CrashOracle>> make_crash_oracles() {
  std::vector<std::unique_ptr<CrashOracle>> v;
  v.push_back(make_structure_oracle());
  v.push_back(make_refinement_oracle());
  v.push_back(make_durability_oracle());
  v.push_back(make_needs_check_oracle());
  return v;
}

}  // namespace thinsim::fault
