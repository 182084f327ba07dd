#include "fault/crash/crash_oracle.h"
#include "sim/sector_hash.h"

namespace thinsim::fault {
namespace {

class DurabilityOracle final : public CrashOracle {
 public:
  const char* name() const override { return "durability"; }
  std::optional<std::string> judge(CrashContext& ctx) override {
    if (ctx.refused) return std::nullopt;
    if (!ctx.data || !ctx.data_disk || !ctx.recovered || ctx.view.data_block_sectors == 0) return std::nullopt;
    const uint64_t bs = ctx.view.data_block_sectors;
    const uint64_t commit_seq = ctx.recovered->seq;
    std::optional<std::string> problem;
    for (const MappedDataRun& run : ctx.view.mapped) {
      ctx.data_history.for_each_touched(run.data_begin * bs, run.length * bs, [&](uint64_t s) {
        if (problem) return;
        const SurvivingSector* survivor = ctx.data->survivor(s);
        const uint64_t hash = survivor ? sim::sector_hash(ctx.data_disk->disk_id(), s, {survivor->data, 512})
                                       : ctx.data_disk->durable_sector_hash(s);
        if (ctx.data_history.allowed(s, commit_seq, hash, survivor)) return;
        problem = "data block " + std::to_string(s / bs) + " (sector " + std::to_string(s % bs) +
                  "), mapped by the recovered commit (superblock written at IO " +
                  std::to_string(commit_seq) + "), holds " +
                  (survivor ? "a cached write from IO " + std::to_string(survivor->seq)
                            : std::string("durable data")) +
                  " that is not what the commit relied on (" + ctx.data_history.describe(s) + ")";
      });
      if (problem) break;
    }
    return problem;
  }
};

}  // namespace

std::unique_ptr<CrashOracle> make_durability_oracle() { return std::make_unique<DurabilityOracle>(); }

}  // namespace thinsim::fault
