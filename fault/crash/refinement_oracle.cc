#include "fault/crash/crash_oracle.h"

namespace thinsim::fault {
namespace {

class RefinementOracle final : public CrashOracle {
 public:
  const char* name() const override { return "refinement"; }
  std::optional<std::string> judge(CrashContext& ctx) override {
    if (ctx.refused) return std::nullopt;
    ctx.recovered = ctx.commits.match(ctx.view.fingerprint);
    if (ctx.recovered) return std::nullopt;
    std::string msg = "the recovered metadata (" + ctx.view.fingerprint +
                      ") is neither the last durable commit (superblock written at IO " +
                      std::to_string(ctx.commits.durable().seq) + ")";
    const auto& in_flight = ctx.commits.in_flight_commits();
    if (in_flight.empty()) return msg + " nor an in-flight one (none)";
    msg += " nor one in flight (IO";
    for (const CommitRecord& c : in_flight) msg += " " + std::to_string(c.seq);
    return msg + ")";
  }
};

}  // namespace

std::unique_ptr<CrashOracle> make_refinement_oracle() { return std::make_unique<RefinementOracle>(); }

}  // namespace thinsim::fault
