#include <iterator>
#include <sstream>

#include "fault/crash/crash_oracle.h"
#include "harness/dm_core.h"

namespace thinsim::fault {
namespace {

// Lends a crash image to a second dm core (which would otherwise own it).
class BorrowedDisk final : public pdata::BlockDevice {
 public:
  explicit BorrowedDisk(pdata::BlockDevice& d) : d_(d) {}
  uint64_t nr_sectors() const override { return d_.nr_sectors(); }
  void read(uint64_t s, std::span<std::byte> b) override { d_.read(s, b); }
  void write(uint64_t s, std::span<const std::byte> b, pdata::WriteFlags f) override { d_.write(s, b, f); }
  void flush() override { d_.flush(); }
  void discard(uint64_t s, uint64_t n) override { d_.discard(s, n); }

 private:
  pdata::BlockDevice& d_;
};

class NeedsCheckOracle final : public CrashOracle {
 public:
  const char* name() const override { return "needs-check"; }
  std::optional<std::string> judge(CrashContext& ctx) override {
    if (ctx.refused) return std::nullopt;
    if (!ctx.view.needs_check || !ctx.view.check_passed || !ctx.data || !ctx.pool_table ||
        ctx.pool_table->args.size() < 2)
      return std::nullopt;
    // Bring a pool up on the recovered images with the scenario's own table.
    harness::DmCore dm;
    harness::TableLine table = *ctx.pool_table;
    dm.add_disk_device(table.args[0], std::make_unique<BorrowedDisk>(ctx.meta));
    dm.add_disk_device(table.args[1], std::make_unique<BorrowedDisk>(*ctx.data));
    if (auto r = dm.create("recovered-pool", table); r.err)
      return std::nullopt;  // refusing the pool outright also keeps it out of write mode
    std::string line;
    dm.status("recovered-pool", false, line);
    std::istringstream words(line);
    std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
    // "<start> <len> thin-pool <tid> <meta> <data> <held> <mode> ..."
    if (w.size() > 7 && (w[7] == "rw" || w[7] == "out_of_data_space"))
      return "a pool on metadata with needs_check set came up in write mode: " + line;
    if (auto r = dm.message("recovered-pool", 0, "create_thin 16777214"); r.err == 0)
      return "a pool on metadata with needs_check set accepted create_thin: " + line;
    dm.remove("recovered-pool");
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<CrashOracle> make_needs_check_oracle() { return std::make_unique<NeedsCheckOracle>(); }

}  // namespace thinsim::fault
