#include "model/pool/pool_table.h"

#include <cctype>
#include <cerrno>
#include <strings.h>

#include "model/pool/target_error.h"

namespace thinsim::pool {

std::optional<uint64_t> kstrtoull(const std::string& s) {
  size_t i = 0, n = s.size();
  if (n && s[n - 1] == '\n') --n;
  if (i < n && s[i] == '+') ++i;
  if (i == n) return std::nullopt;
  uint64_t v = 0;
  for (; i < n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    unsigned d = s[i] - '0';
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // -ERANGE
    v = v * 10 + d;
  }
  return v;
}

std::optional<uint64_t> read_dev_id(const std::string& s) {
  auto v = kstrtoull(s);
  if (!v || *v > kMaxDevId) return std::nullopt;
  return v;
}

std::vector<std::string> split_dm_args(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i == line.size()) break;
    std::string word;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      word += line[i++];
    }
    out.push_back(std::move(word));
  }
  return out;
}

namespace {

// parse_pool_features: a counted group of at most 4 words (dm_read_arg_group).
void parse_features(const std::vector<std::string>& argv, size_t first, PoolFeatures& pf) {
  if (first == argv.size()) return;
  size_t remaining = argv.size() - first - 1;
  auto count = kstrtoull(argv[first]);
  // validate_next_arg uses sscanf("%u%c"): a plain unsigned number.
  bool plain = !argv[first].empty() &&
               argv[first].find_first_not_of("0123456789") == std::string::npos;
  if (!plain || !count || *count > 4 || *count > remaining)
    throw TargetError(EINVAL, "Invalid number of pool feature arguments");
  for (size_t i = 0; i < *count; ++i) {
    const char* f = argv[first + 1 + i].c_str();
    if (!strcasecmp(f, "skip_block_zeroing")) pf.zero_new_blocks = false;
    else if (!strcasecmp(f, "ignore_discard")) pf.discard_enabled = false;
    else if (!strcasecmp(f, "no_discard_passdown")) pf.discard_passdown = false;
    else if (!strcasecmp(f, "read_only")) pf.mode = PoolMode::read_only;
    else if (!strcasecmp(f, "error_if_no_space")) pf.error_if_no_space = true;
    else throw TargetError(EINVAL, "Unrecognised pool feature requested");
  }
}

}  // namespace

PoolTableArgs parse_pool_table(const std::vector<std::string>& argv,
                               const DeviceResolver& resolve) {
  if (argv.size() < 4) throw TargetError(EINVAL, "Invalid argument count");
  if (argv[0] == argv[1]) throw TargetError(EINVAL, "Error setting metadata or data device");
  PoolTableArgs a;
  parse_features(argv, 4, a.features);
  a.metadata_name = argv[0];
  a.data_name = argv[1];
  // dm_get_device fails for a path that names no block device.
  a.metadata_dev = resolve(argv[0]);
  if (!a.metadata_dev) throw TargetError(ENODEV, "Error opening metadata block device");
  a.data_dev = resolve(argv[1]);
  if (!a.data_dev) throw TargetError(ENODEV, "Error getting data device");
  // kstrtoul for an unsigned long block size, as on a 64-bit kernel.
  auto bs = kstrtoull(argv[2]);
  if (!bs || !*bs || *bs < kDataBlockSizeMinSectors || *bs > kDataBlockSizeMaxSectors ||
      (*bs & (kDataBlockSizeMinSectors - 1)))
    throw TargetError(EINVAL, "Invalid block size");
  a.block_size = static_cast<uint32_t>(*bs);
  auto lw = kstrtoull(argv[3]);
  if (!lw) throw TargetError(EINVAL, "Invalid low water mark");
  a.low_water_blocks = *lw;
  return a;
}

ThinTableArgs parse_thin_table(const std::vector<std::string>& argv,
                               const DeviceResolver& resolve) {
  if (argv.size() != 2 && argv.size() != 3) throw TargetError(EINVAL, "Invalid argument count");
  ThinTableArgs a;
  if (argv.size() == 3) {
    if (argv[0] == argv[2]) throw TargetError(EINVAL, "Error setting origin device");
    a.origin_name = argv[2];
    a.origin_dev = resolve(argv[2]);
    if (!a.origin_dev) throw TargetError(ENODEV, "Error opening origin device");
  }
  a.pool_name = argv[0];
  if (!resolve(argv[0])) throw TargetError(ENODEV, "Error opening pool device");
  auto id = read_dev_id(argv[1]);
  if (!id) throw TargetError(EINVAL, "Invalid device id");
  a.dev_id = *id;
  return a;
}

}  // namespace thinsim::pool
