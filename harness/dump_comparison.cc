#include "harness/dump_comparison.h"

#include <map>
#include <vector>

#include "model/ref/ref_pool.h"
#include "model/thin/format.h"
#include "model/thin/metadata_visitor.h"
#include "model/thin/xml_reader.h"

namespace thinsim::harness {

namespace {

struct DumpedMapping {
  uint64_t data_block;
  uint32_t time;
};

struct DumpedDevice {
  thin::DeviceInfo info;
  std::map<uint64_t, DumpedMapping> blocks;
};

// The whole dump in memory: scenario pools are small, and the comparison wants random
// access by device and block.
class DumpCollector final : public thin::MetadataVisitor {
 public:
  thin::SuperblockInfo sb;
  std::map<uint64_t, DumpedDevice> devices;

  void begin_superblock(const thin::SuperblockInfo& s) override { sb = s; }
  void end_superblock() override {}
  void begin_device(const thin::DeviceInfo& d) override { current_ = &devices[d.dev_id]; current_->info = d; }
  void end_device() override { current_ = nullptr; }
  void mapping(const thin::MappingRun& r) override {
    for (uint64_t i = 0; i < r.length; ++i)
      current_->blocks[r.origin_begin + i] = DumpedMapping{r.data_begin + i, r.time};
  }

 private:
  DumpedDevice* current_ = nullptr;
};

std::string dev_name(uint64_t dev) { return "device " + std::to_string(dev); }

std::string differ(const std::string& what, uint64_t dumped, uint64_t model) {
  return what + " is " + std::to_string(dumped) + " in the dump, " + std::to_string(model) +
         " in the reference's last commit";
}

}  // namespace

std::optional<std::string> compare_dump_with_reference(std::string_view dump_xml,
                                                       const ref::RefPool& r) {
  DumpCollector d;
  thin::read_thin_xml_string(dump_xml, d, "thin_dump output");

  if (d.sb.transaction != r.committed_transaction_id())
    return differ("the transaction id", d.sb.transaction, r.committed_transaction_id());
  if (d.sb.time != r.committed_time()) return differ("the pool time", d.sb.time, r.committed_time());
  if (d.sb.nr_data_blocks != r.committed_data_blocks())
    return differ("the number of data blocks", d.sb.nr_data_blocks, r.committed_data_blocks());
  const bool needs_check = d.sb.flags.value_or(0) & thin::kNeedsCheckFlag;
  if (needs_check != r.needs_check())
    return std::string("needs_check is ") + (needs_check ? "set" : "clear") + " in the dump, " +
           (r.needs_check() ? "set" : "clear") + " in the reference";

  const auto& model = r.committed_devices();
  for (const auto& [id, dev] : d.devices)
    if (id > UINT32_MAX || !model.contains(static_cast<uint32_t>(id)))
      return dev_name(id) + " is in the dump but not in the reference's last commit";
  // Tokens and data blocks must correspond one to one.
  std::map<uint64_t, uint64_t> data_of_token, token_of_data;
  for (const auto& [id, m] : model) {
    auto it = d.devices.find(id);
    if (it == d.devices.end()) return dev_name(id) + " is in the reference's last commit but not in the dump";
    const DumpedDevice& dd = it->second;
    if (dd.info.mapped_blocks != m.blocks.size())
      return differ(dev_name(id) + ": mapped_blocks", dd.info.mapped_blocks, m.blocks.size());
    if (dd.info.snap_time != m.snapshotted_time)
      return differ(dev_name(id) + ": snap_time", dd.info.snap_time, m.snapshotted_time);
    auto di = dd.blocks.begin();
    auto mi = m.blocks.begin();
    for (; di != dd.blocks.end() && mi != m.blocks.end(); ++di, ++mi) {
      if (di->first != mi->first) {
        const uint64_t v = std::min(di->first, mi->first);
        return dev_name(id) + ": virtual block " + std::to_string(v) + " is mapped only in the " +
               (di->first < mi->first ? "dump" : "reference's last commit");
      }
      const std::string at = dev_name(id) + " virtual block " + std::to_string(di->first);
      if (di->second.time != mi->second.time)
        return differ(at + ": the mapping time", di->second.time, mi->second.time);
      auto [t, t_new] = data_of_token.try_emplace(mi->second.token, di->second.data_block);
      auto [b, b_new] = token_of_data.try_emplace(di->second.data_block, mi->second.token);
      if (t->second != di->second.data_block || b->second != mi->second.token)
        return at + " maps data block " + std::to_string(di->second.data_block) +
               ": the sharing differs (the reference's block " +
               std::to_string(mi->second.token) + " is data block " + std::to_string(t->second) +
               " elsewhere in the dump, and data block " + std::to_string(di->second.data_block) +
               " holds the reference's block " + std::to_string(b->second) + " elsewhere)";
    }
    if (di != dd.blocks.end())
      return dev_name(id) + ": virtual block " + std::to_string(di->first) + " is mapped only in the dump";
    if (mi != m.blocks.end())
      return dev_name(id) + ": virtual block " + std::to_string(mi->first) +
             " is mapped only in the reference's last commit";
  }
  return std::nullopt;
}

}  // namespace thinsim::harness
