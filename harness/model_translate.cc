// thinsim run --check-model: translations between the pool's world and the reference's.
#include "harness/model_translate.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <sstream>

namespace thinsim::harness::model_check {

std::string errno_word(int err) {
  std::string_view n = errno_name(err);
  return n.empty() ? "errno " + std::to_string(err) : std::string(n);
}

std::string result_word(bool queued, int err) {
  if (queued) return "queued";
  return err ? "error " + errno_word(err) : "ok";
}

// "reference model: WHAT: model says X, reference says Y", or nothing when they agree.
Divergence disagree(const std::string& what, bool model_queued, int model_err, bool ref_queued,
                    int ref_err) {
  if (model_queued == ref_queued && (model_queued || model_err == ref_err)) return std::nullopt;
  return "reference model: " + what + ": model says " + result_word(model_queued, model_err) +
         ", reference says " + result_word(ref_queued, ref_err);
}

Divergence disagree(const std::string& what, int model_err, int ref_err) {
  return disagree(what, false, model_err, false, ref_err);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> words(const std::string& text) {  // dm_split_args on blanks
  std::istringstream in(text);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

// kstrtoull(s, 10): optional '+', decimal digits, no overflow.
std::optional<uint64_t> decimal(const std::string& s) {
  size_t i = !s.empty() && s[0] == '+' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string hex(std::byte b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(b));
  return buf;
}

const char* mode_name(int mode) {  // pool::PoolMode and ref::Mode share the kernel's order
  static const char* const names[] = {"write", "out_of_data_space", "out_of_metadata_space",
                                      "read_only", "fail"};
  return names[mode];
}

// "thin-pool META DATA BLOCK_SIZE LOW_WATER [N FEATURES...]" as the reference's parameters.
uint64_t metadata_blocks(uint64_t device_sectors) {
  constexpr uint64_t kMaxSectors = uint64_t{255} * ((1u << 14) - 64) * 8;
  return std::min(device_sectors, kMaxSectors) / 8;
}

std::optional<ref::PoolParams> pool_params(const TableLine& t, uint64_t no_space_timeout_ms) {
  const auto& a = t.args;
  if (a.size() < 4) return std::nullopt;
  auto bs = decimal(a[2]), lw = decimal(a[3]);
  if (!bs || !*bs || *bs > std::numeric_limits<uint32_t>::max() || !lw) return std::nullopt;
  ref::PoolParams p;
  p.block_sectors = static_cast<uint32_t>(*bs);
  p.data_blocks = t.length / *bs;
  p.low_water_mark = *lw;
  p.no_space_timeout_ms = no_space_timeout_ms;
  p.sharing = ref::SharingRule::kernel_time;  // the pool model uses the kernel's time test
  // The feature count comes first; dm_read_arg_group takes that many words and the
  // constructor ignores any after them.
  size_t features = 0;
  if (a.size() > 4) {
    auto n = decimal(a[4]);
    if (!n || *n > a.size() - 5) return std::nullopt;
    features = static_cast<size_t>(*n);
  }
  for (size_t i = 5; i < 5 + features; ++i) {
    std::string f = lower(a[i]);
    if (f == "skip_block_zeroing") p.skip_block_zeroing = true;
    else if (f == "ignore_discard") p.ignore_discard = true;
    else if (f == "no_discard_passdown") p.no_discard_passdown = true;
    else if (f == "read_only") p.read_only = true;
    else if (f == "error_if_no_space") p.error_if_no_space = true;
    else return std::nullopt;
  }
  return p;
}

// pool_message on the reference: the mode check first, then the arguments.
int ref_message(ref::RefPool& r, const std::vector<std::string>& argv) {
  if (r.mode() >= ref::Mode::out_of_metadata_space) return EOPNOTSUPP;
  const std::string m = lower(argv[0]);
  std::vector<uint64_t> n;
  auto args = [&](size_t count) {  // exactly count words, all numbers after the first
    if (argv.size() != count) return false;
    for (size_t i = 1; i < count; ++i) {
      auto v = decimal(argv[i]);
      if (!v) return false;
      n.push_back(*v);
    }
    return true;
  };
  if (m == "create_thin") return args(2) ? r.create_thin(n[0]) : EINVAL;
  if (m == "create_snap") return args(3) ? r.create_snap(n[0], n[1]) : EINVAL;
  if (m == "delete") return args(2) ? r.delete_thin(n[0]) : EINVAL;
  if (m == "set_transaction_id") return args(3) ? r.set_transaction_id(n[0], n[1]) : EINVAL;
  if (m == "reserve_metadata_snap") return args(1) ? r.reserve_metadata_snap() : EINVAL;
  if (m == "release_metadata_snap") return args(1) ? r.release_metadata_snap() : EINVAL;
  return EINVAL;
}

// The first byte, within the sectors the reference defines, where the pool's data differs.
std::optional<size_t> first_difference(std::span<const std::byte> pool, const ref::ReadResult& r) {
  for (size_t s = 0; s < r.defined.size(); ++s)
    for (size_t i = s * ref::kSectorBytes; r.defined[s] && i < (s + 1) * ref::kSectorBytes; ++i)
      if (pool[i] != r.data[i]) return i;
  return std::nullopt;
}

}  // namespace thinsim::harness::model_check
