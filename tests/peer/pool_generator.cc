#include "tests/peer/pool_generator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <numeric>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>

namespace thinsim::peer {

// ---------------------------------------------------------------- randomness

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) { return mix64(mix64(seed) ^ mix64(~stream)); }

uint64_t Rng::below(uint64_t n) {
  if (n == 0) throw std::invalid_argument("Rng::below(0)");
  // Reject the low values that would make the modulo biased: 2^64 mod n of them.
  uint64_t threshold = (0 - n) % n;
  for (;;) {
    uint64_t r = engine_();
    if (r >= threshold) return r % n;
  }
}

uint64_t Rng::between(uint64_t lo, uint64_t hi) {
  if (lo > hi) throw std::invalid_argument("Rng::between: lo > hi");
  uint64_t span = hi - lo;
  if (span == UINT64_MAX) return engine_();
  return lo + below(span + 1);
}

double Rng::unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

bool Rng::chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return unit() < p;
}

// ---------------------------------------------------------------- presets

PoolSpec PoolSpec::tiny() {
  PoolSpec s;
  s.name = "tiny";
  s.nr_devices = 3;
  s.mappings_per_device = 12;
  s.virtual_blocks = 256;
  s.max_dev_id = 15;
  return s;
}

PoolSpec PoolSpec::small() {
  PoolSpec s;
  s.name = "small";
  s.nr_devices = 10;
  s.mappings_per_device = 300;
  s.virtual_blocks = 1 << 16;
  return s;
}

PoolSpec PoolSpec::deep_sharing() {
  PoolSpec s;
  s.name = "deep_sharing";
  s.nr_devices = 24;
  s.mappings_per_device = 150;
  s.snapshot_probability = 0.9;
  s.keep_probability = 0.97;
  s.prefix_probability = 0.2;
  s.max_snapshot_depth = 8;
  s.virtual_blocks = 1 << 14;
  return s;
}

PoolSpec PoolSpec::large_ids() {
  PoolSpec s;
  s.name = "large_ids";
  s.nr_devices = 12;
  s.mappings_per_device = 400;
  s.max_dev_id = kMaxThinId;
  s.virtual_blocks = uint64_t{1} << 57;  // 2^64 bytes / 128-sector blocks
  s.data_block_size = kMaxDataBlockSize;
  s.data_base = uint64_t{1} << 26;
  s.extra_data_blocks = 12345;
  s.time_base = kMaxMappingTime - 3;  // device times cross 2^24; mapping times stay below
  s.transaction_base = UINT64_MAX - 1000000;
  return s;
}

PoolSpec PoolSpec::big_trees() {
  PoolSpec s;
  s.name = "big_trees";
  s.nr_devices = 6;
  s.mappings_per_device = 30000;
  s.snapshot_probability = 0.6;
  s.mean_run_length = 6;
  s.long_run_max = 4000;
  s.virtual_blocks = uint64_t{1} << 22;
  return s;
}

PoolSpec PoolSpec::one_million() {
  PoolSpec s;
  s.name = "one_million";
  s.nr_devices = 40;
  s.mappings_per_device = 23000;
  s.snapshot_probability = 0.5;
  s.keep_probability = 0.95;
  s.prefix_probability = 0.25;
  s.max_snapshot_depth = 3;
  s.idle_device_probability = 0.05;
  s.mean_run_length = 3;
  s.long_run_probability = 0.01;
  s.long_run_max = 2000;
  s.virtual_blocks = uint64_t{1} << 24;
  return s;
}

PoolSpec PoolSpec::huge_data() {
  PoolSpec s;
  s.name = "huge_data";
  s.nr_devices = 4;
  s.mappings_per_device = 300;
  s.snapshot_probability = 0.7;
  s.virtual_blocks = uint64_t{1} << 30;
  s.data_base = (uint64_t{1} << 32) - 700;  // the data areas straddle 2^32
  s.extra_data_blocks = 5000;
  return s;
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"tiny",      "small",     "deep_sharing", "large_ids",
                                                 "big_trees", "one_million", "huge_data"};
  return names;
}

PoolSpec preset_spec(std::string_view name) {
  if (name == "tiny") return PoolSpec::tiny();
  if (name == "small") return PoolSpec::small();
  if (name == "deep_sharing") return PoolSpec::deep_sharing();
  if (name == "large_ids") return PoolSpec::large_ids();
  if (name == "big_trees") return PoolSpec::big_trees();
  if (name == "one_million") return PoolSpec::one_million();
  if (name == "huge_data") return PoolSpec::huge_data();
  throw std::invalid_argument("unknown pool preset '" + std::string(name) + "'");
}

SpecProfile parse_profile(std::string_view name) {
  if (name == "tiny") return SpecProfile::tiny;
  if (name == "small") return SpecProfile::small;
  if (name == "medium") return SpecProfile::medium;
  if (name == "large") return SpecProfile::large;
  if (name == "mixed") return SpecProfile::mixed;
  throw std::invalid_argument("unknown profile '" + std::string(name) +
                              "' (tiny, small, medium, large, mixed)");
}

std::string_view profile_name(SpecProfile p) {
  switch (p) {
    case SpecProfile::tiny: return "tiny";
    case SpecProfile::small: return "small";
    case SpecProfile::medium: return "medium";
    case SpecProfile::large: return "large";
    case SpecProfile::mixed: return "mixed";
  }
  return "?";
}

namespace {

template <typename T>
T pick(Rng& r, std::initializer_list<T> values) {
  return *(values.begin() + r.below(values.size()));
}

double pick_probability(Rng& r, double lo, double hi) { return lo + (hi - lo) * r.unit(); }

}  // namespace

PoolSpec random_spec(SpecProfile profile, uint64_t seed) {
  Rng r(derive_seed(seed, 0x5bec));
  if (profile == SpecProfile::mixed) {
    uint64_t x = r.below(100);
    profile = x < 30 ? SpecProfile::tiny : x < 80 ? SpecProfile::small : SpecProfile::medium;
  }
  PoolSpec s;
  s.name = std::string("random-") + std::string(profile_name(profile));
  switch (profile) {
    case SpecProfile::tiny:
      s.nr_devices = static_cast<uint32_t>(r.between(0, 4));  // 0: an empty pool
      s.mappings_per_device = r.between(0, 30);
      break;
    case SpecProfile::small:
      s.nr_devices = static_cast<uint32_t>(r.between(2, 12));
      s.mappings_per_device = r.between(10, 400);
      break;
    case SpecProfile::medium:
      s.nr_devices = static_cast<uint32_t>(r.between(5, 40));
      s.mappings_per_device = r.between(200, 3000);
      break;
    case SpecProfile::large:
    case SpecProfile::mixed:
      s.nr_devices = static_cast<uint32_t>(r.between(10, 60));
      s.mappings_per_device = r.between(2000, 20000);
      break;
  }
  s.snapshot_probability = pick(r, {0.0, 0.3, 0.6, 0.9});
  s.keep_probability = pick_probability(r, 0.5, 1.0);
  s.prefix_probability = pick_probability(r, 0.0, 0.5);
  s.max_snapshot_depth = static_cast<uint32_t>(r.between(1, 6));
  s.idle_device_probability = pick(r, {0.0, 0.1, 0.3});
  s.mean_run_length = pick(r, {uint64_t{1}, uint64_t{2}, uint64_t{4}, uint64_t{8}, uint64_t{16}});
  s.long_run_probability = pick(r, {0.0, 0.01, 0.05});
  s.long_run_max = r.between(20, 3000);
  s.data_jump_probability = pick(r, {0.0, 0.2, 0.5, 0.9});
  s.data_stripes = static_cast<uint32_t>(r.between(1, 4));
  s.time_step_probability = pick(r, {0.0, 0.05, 0.3});

  // Device ids: dense, moderate or the whole 24-bit space.
  switch (r.below(3)) {
    case 0: s.max_dev_id = std::max<uint64_t>(s.nr_devices, 1) - 1 + r.below(4); break;
    case 1: s.max_dev_id = 1000; break;
    default: s.max_dev_id = kMaxThinId; break;
  }
  // Thin device size: just enough, a typical size, or huge (2^32 or the 2^57 limit).
  uint64_t need = 2 * s.mappings_per_device + 16;
  switch (r.below(4)) {
    case 0: s.virtual_blocks = need + r.below(need); break;
    case 1: s.virtual_blocks = uint64_t{1} << 20; break;
    case 2: s.virtual_blocks = uint64_t{1} << 32; break;
    default: s.virtual_blocks = uint64_t{1} << 57; break;
  }
  // Every legal data block size is a multiple of 128 sectors in [128, 2097152].
  switch (r.below(5)) {
    case 0: s.data_block_size = kMinDataBlockSize; break;
    case 1: s.data_block_size = kMaxDataBlockSize; break;
    case 2: s.data_block_size = kMinDataBlockSize << r.below(15); break;  // powers of two
    default:
      s.data_block_size = static_cast<uint32_t>(kMinDataBlockSize * r.between(1, kMaxDataBlockSize / kMinDataBlockSize));
      break;
  }
  // Data block numbers: from 0, or far up (the data space map then has many bitmaps).
  switch (r.below(4)) {
    case 0: s.data_base = r.below(1 << 22); break;
    case 1: s.data_base = uint64_t{1} << 22; break;
    default: s.data_base = r.below(64); break;
  }
  s.extra_data_blocks = pick(r, {uint64_t{0}, uint64_t{1}, r.below(20000)});
  // Times: from 0, around the 24-bit mapping time limit, or near the 32-bit limit.
  switch (r.below(5)) {
    case 0: s.time_base = static_cast<uint32_t>(kMaxMappingTime - r.below(8)); break;
    case 1: s.time_base = static_cast<uint32_t>(UINT32_MAX - 200 - r.below(100)); break;
    case 2: s.time_base = static_cast<uint32_t>(r.below(1000)); break;
    default: s.time_base = 0; break;
  }
  s.extra_time = static_cast<uint32_t>(pick(r, {0, 0, 1, 7}));
  s.transaction_base = pick(r, {uint64_t{0}, r.below(1000), UINT64_MAX - 100000 - r.below(1000)});
  s.needs_check = r.chance(0.2);
  s.version = r.chance(0.3) ? 2 : 1;
  validate_spec(s);
  return s;
}

void validate_spec(const PoolSpec& s) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("pool spec '" + s.name + "': " + why);
  };
  auto prob = [&](double p, const char* what) {
    if (!(p >= 0 && p <= 1)) fail(std::string(what) + " must be in [0, 1]");
  };
  if (s.max_dev_id > kMaxThinId) fail("max_dev_id exceeds 2^24 - 1");
  if (s.nr_devices > s.max_dev_id + 1) fail("more devices than device ids");
  if (s.data_block_size < kMinDataBlockSize || s.data_block_size > kMaxDataBlockSize ||
      s.data_block_size % kMinDataBlockSize != 0)
    fail("data_block_size must be a multiple of 128 in [128, 2097152]");
  if (s.virtual_blocks == 0 || s.virtual_blocks > (uint64_t{1} << 62))
    fail("virtual_blocks must be in [1, 2^62]");
  if (s.mean_run_length == 0) fail("mean_run_length must be >= 1");
  if (s.long_run_max == 0) fail("long_run_max must be >= 1");
  if (s.data_stripes == 0 || s.data_stripes > 64) fail("data_stripes must be in [1, 64]");
  if (s.mappings_per_device > (uint64_t{1} << 32)) fail("mappings_per_device too large");
  if (uint64_t{s.time_base} + s.nr_devices + s.extra_time > UINT32_MAX)
    fail("time_base + nr_devices + extra_time exceeds 2^32 - 1");
  if (s.transaction_base > UINT64_MAX - 8 * (uint64_t{s.nr_devices} + 2))
    fail("transaction_base too close to 2^64");
  if (s.version != 1 && s.version != 2) fail("version must be 1 or 2");
  prob(s.snapshot_probability, "snapshot_probability");
  prob(s.keep_probability, "keep_probability");
  prob(s.prefix_probability, "prefix_probability");
  prob(s.idle_device_probability, "idle_device_probability");
  prob(s.long_run_probability, "long_run_probability");
  prob(s.data_jump_probability, "data_jump_probability");
  prob(s.time_step_probability, "time_step_probability");
  // Data block numbers are 40-bit in a mapping; the worst case area is checked in the plan.
}

// ---------------------------------------------------------------- the plan

namespace {

struct Run {
  uint64_t origin = 0;
  uint64_t data = 0;
  uint64_t len = 0;
  uint32_t time = 0;
  bool shared = false;

  uint64_t end() const { return origin + len; }
  void drop_front(uint64_t n) {
    origin += n;
    data += n;
    len -= n;
  }
};

struct DevicePlan {
  uint64_t dev_id = 0;
  int parent = -1;  // index in creation order
  uint32_t depth = 0;
  uint32_t creation_time = 0;
  uint32_t snap_time = 0;
  uint64_t transaction = 0;
  uint64_t writes = 0;        // blocks the device writes itself
  uint64_t cut = 0;           // parent blocks at or above `cut` are not kept
  uint64_t data_begin = 0;    // first block of the device's data area
  uint32_t stripes = 1;
  uint64_t stripe_capacity = 0;
  uint64_t seed = 0;
};

struct PoolPlan {
  PoolSpec spec;
  std::vector<DevicePlan> devices;  // creation order
  std::vector<size_t> by_id;        // indices into devices, ascending dev_id
  uint32_t time = 0;
  uint32_t max_mapping_time = 0;
  uint64_t transaction = 0;
  uint64_t nr_data_blocks = 0;
};

PoolPlan make_plan(const PoolSpec& spec, uint64_t seed) {
  validate_spec(spec);
  PoolPlan plan;
  plan.spec = spec;
  Rng r(derive_seed(seed, 1));
  uint32_t n = spec.nr_devices;

  // Distinct device ids, drawn in creation order.
  std::set<uint64_t> used;
  plan.devices.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t id;
    do {
      id = r.between(0, spec.max_dev_id);
    } while (!used.insert(id).second);
    plan.devices[i].dev_id = id;
    plan.devices[i].seed = derive_seed(seed, 1000 + i);
  }

  // Creation: the pool time advances by one at every snapshot (as in the kernel); the
  // origin's snapshotted time is set to it, and the snapshot is created at it.
  uint32_t time = spec.time_base;
  uint64_t trans = spec.transaction_base;
  std::vector<size_t> candidates;  // devices that may get a snapshot (depth limit)
  for (uint32_t i = 0; i < n; ++i) {
    DevicePlan& d = plan.devices[i];
    trans += r.below(4);
    d.transaction = trans;
    bool snap = !candidates.empty() && r.chance(spec.snapshot_probability);
    if (snap) {
      size_t p = candidates[r.below(candidates.size())];
      ++time;
      d.parent = static_cast<int>(p);
      d.depth = plan.devices[p].depth + 1;
      plan.devices[p].snap_time = time;
      d.cut = r.chance(spec.prefix_probability) ? r.below(spec.virtual_blocks) : spec.virtual_blocks;
    }
    d.creation_time = d.snap_time = time;
    if (d.depth < spec.max_snapshot_depth) candidates.push_back(i);
  }
  plan.time = time + spec.extra_time;
  plan.max_mapping_time = std::min(plan.time, kMaxMappingTime);
  plan.transaction = trans + r.below(5);

  // Writes and data areas. Each device owns `stripes` areas of 2 * writes blocks: a run
  // of length L consumes at most 2L (itself plus a jump of at most L).
  for (auto& d : plan.devices) {
    uint64_t w = r.chance(spec.idle_device_probability) ? 0 : r.between(0, 2 * spec.mappings_per_device);
    d.writes = std::min(w, spec.virtual_blocks);
    d.stripes = static_cast<uint32_t>(r.between(1, spec.data_stripes));
    d.stripe_capacity = 2 * d.writes;
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[r.below(i)]);
  uint64_t cursor = spec.data_base;
  for (size_t i : order) {
    DevicePlan& d = plan.devices[i];
    cursor += r.below(17);
    d.data_begin = cursor;
    cursor += d.stripes * d.stripe_capacity;
  }
  plan.nr_data_blocks = cursor + spec.extra_data_blocks;
  if (plan.nr_data_blocks > (uint64_t{1} << 40))
    throw std::invalid_argument("pool spec '" + spec.name + "': data blocks exceed 2^40");

  plan.by_id.resize(n);
  std::iota(plan.by_id.begin(), plan.by_id.end(), size_t{0});
  std::sort(plan.by_id.begin(), plan.by_id.end(),
            [&](size_t a, size_t b) { return plan.devices[a].dev_id < plan.devices[b].dev_id; });
  return plan;
}

// ---------------------------------------------------------------- run streams

class RunSource {
 public:
  virtual ~RunSource() = default;
  // The next run in ascending origin order, never overlapping the previous one.
  virtual bool next(Run& out) = 0;
};

// The blocks a device writes itself, spread over the whole virtual range.
class WriteSource : public RunSource {
 public:
  WriteSource(const PoolPlan& plan, const DevicePlan& d)
      : spec_(plan.spec), d_(d), rng_(derive_seed(d.seed, 2)), remaining_(d.writes),
        cursors_(d.stripes, 0) {
    max_time_ = plan.max_mapping_time;
    time_ = std::min(d.creation_time, max_time_);
  }

  bool next(Run& out) override {
    if (remaining_ == 0) return false;
    uint64_t len = draw_length();
    len = std::min(len, remaining_);
    // Spread the remaining runs over the remaining space.
    uint64_t slack = spec_.virtual_blocks - pos_ - remaining_;
    uint64_t runs_left = (remaining_ + spec_.mean_run_length - 1) / spec_.mean_run_length;
    uint64_t avg_gap = slack / (runs_left + 1);
    uint64_t gap = avg_gap == 0 ? 0 : std::min(slack, rng_.below(2 * avg_gap + 1));
    if (slack > 0 && avg_gap == 0 && rng_.chance(0.3)) gap = 1;
    out.origin = pos_ + gap;
    out.len = len;
    pos_ = out.end();
    remaining_ -= len;

    uint32_t s = static_cast<uint32_t>(rng_.below(d_.stripes));
    if (cursors_[s] > 0 && rng_.chance(spec_.data_jump_probability)) cursors_[s] += rng_.between(1, len);
    out.data = d_.data_begin + s * d_.stripe_capacity + cursors_[s];
    cursors_[s] += len;

    if (rng_.chance(spec_.time_step_probability))
      time_ = static_cast<uint32_t>(std::min<uint64_t>(max_time_, uint64_t{time_} + rng_.between(1, 3)));
    out.time = time_;
    out.shared = false;
    return true;
  }

 private:
  uint64_t draw_length() {
    if (rng_.chance(spec_.long_run_probability)) return rng_.between(1, spec_.long_run_max);
    return rng_.between(1, 2 * spec_.mean_run_length - 1);
  }

  const PoolSpec& spec_;
  const DevicePlan& d_;
  Rng rng_;
  uint64_t remaining_;
  uint64_t pos_ = 0;
  std::vector<uint64_t> cursors_;
  uint32_t time_ = 0;
  uint32_t max_time_ = 0;
};

// What a snapshot keeps of its parent: blocks below the divergence point that the parent
// had written by the time of the snapshot, less some discarded pieces.
class KeptSource : public RunSource {
 public:
  KeptSource(std::unique_ptr<RunSource> parent, const PoolSpec& spec, const DevicePlan& child)
      : parent_(std::move(parent)), spec_(spec), child_(child), rng_(derive_seed(child.seed, 3)) {}

  bool next(Run& out) override {
    while (pending_.empty()) {
      if (done_) return false;
      Run r;
      if (!parent_->next(r) || r.origin >= child_.cut) {
        done_ = true;
        return false;
      }
      if (r.end() > child_.cut) r.len = child_.cut - r.origin;
      if (r.time > child_.creation_time) continue;  // written after the snapshot
      r.shared = true;
      if (rng_.chance(spec_.keep_probability)) {
        pending_.push_back(r);
        continue;
      }
      while (r.len > 0) {  // split into pieces, discard about half of them
        Run piece = r;
        piece.len = rng_.between(1, r.len);
        if (rng_.chance(0.5)) pending_.push_back(piece);
        r.drop_front(piece.len);
      }
    }
    out = pending_.front();
    pending_.pop_front();
    return true;
  }

 private:
  std::unique_ptr<RunSource> parent_;
  const PoolSpec& spec_;
  const DevicePlan& child_;
  Rng rng_;
  std::deque<Run> pending_;
  bool done_ = false;
};

// The snapshot's own writes laid over what it kept of its parent (writes win).
class OverlaySource : public RunSource {
 public:
  OverlaySource(std::unique_ptr<RunSource> top, std::unique_ptr<RunSource> bottom)
      : top_(std::move(top)), bottom_(std::move(bottom)) {
    has_a_ = top_->next(a_);
    has_b_ = bottom_->next(b_);
  }

  bool next(Run& out) override {
    if (!has_a_ && !has_b_) return false;
    if (!has_a_) return take_b(out);
    if (!has_b_) return take_a(out);
    if (b_.end() <= a_.origin) return take_b(out);
    if (b_.origin < a_.origin) {  // the part of b before a
      out = b_;
      out.len = a_.origin - b_.origin;
      b_.drop_front(out.len);
      return true;
    }
    // b starts inside or after the start of a: a wins where they overlap.
    out = a_;
    uint64_t end = a_.end();
    has_a_ = top_->next(a_);
    while (has_b_ && b_.origin < end) {
      if (b_.end() <= end)
        has_b_ = bottom_->next(b_);
      else
        b_.drop_front(end - b_.origin);
    }
    return true;
  }

 private:
  bool take_a(Run& out) {
    out = a_;
    has_a_ = top_->next(a_);
    return true;
  }
  bool take_b(Run& out) {
    out = b_;
    has_b_ = bottom_->next(b_);
    return true;
  }

  std::unique_ptr<RunSource> top_, bottom_;
  Run a_, b_;
  bool has_a_ = false, has_b_ = false;
};

std::unique_ptr<RunSource> device_source(const PoolPlan& plan, size_t index) {
  const DevicePlan& d = plan.devices[index];
  auto writes = std::make_unique<WriteSource>(plan, d);
  if (d.parent < 0) return writes;
  auto kept = std::make_unique<KeptSource>(device_source(plan, static_cast<size_t>(d.parent)),
                                           plan.spec, d);
  return std::make_unique<OverlaySource>(std::move(writes), std::move(kept));
}

// ---------------------------------------------------------------- XML output

class XmlOut {
 public:
  template <typename Flush>
  explicit XmlOut(Flush flush) : flush_(std::move(flush)) {
    buf_.reserve(kChunk + 512);
  }
  ~XmlOut() = default;

  XmlOut& operator<<(std::string_view s) {
    buf_.append(s);
    maybe_flush();
    return *this;
  }
  XmlOut& num(uint64_t v) {
    char tmp[24];
    auto res = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, res.ptr);
    return *this;
  }
  void finish() {
    if (!buf_.empty()) {
      flush_(buf_.data(), buf_.size());
      total_ += buf_.size();
      buf_.clear();
    }
  }
  uint64_t total() const { return total_ + buf_.size(); }

 private:
  static constexpr size_t kChunk = 1 << 20;
  void maybe_flush() {
    if (buf_.size() >= kChunk) finish();
  }

  std::function<void(const char*, size_t)> flush_;
  std::string buf_;
  uint64_t total_ = 0;
};

// Merges consecutive runs (origin and data both contiguous, equal time) the way thin_dump
// does, and prints maximal runs.
class MappingPrinter {
 public:
  explicit MappingPrinter(XmlOut& out) : out_(out) {}

  void add(const Run& r) {
    if (have_ && cur_.end() == r.origin && cur_.data + cur_.len == r.data && cur_.time == r.time) {
      cur_.len += r.len;
      return;
    }
    flush();
    cur_ = r;
    have_ = true;
  }

  void flush() {
    if (!have_) return;
    if (cur_.len == 1) {
      out_ << "    <single_mapping origin_block=\"";
      out_.num(cur_.origin) << "\" data_block=\"";
      out_.num(cur_.data) << "\" time=\"";
      out_.num(cur_.time) << "\"/>\n";
    } else {
      out_ << "    <range_mapping origin_begin=\"";
      out_.num(cur_.origin) << "\" data_begin=\"";
      out_.num(cur_.data) << "\" length=\"";
      out_.num(cur_.len) << "\" time=\"";
      out_.num(cur_.time) << "\"/>\n";
    }
    ++elements_;
    have_ = false;
  }

  uint64_t elements() const { return elements_; }

 private:
  XmlOut& out_;
  Run cur_;
  bool have_ = false;
  uint64_t elements_ = 0;
};

PoolStats write_plan(const PoolPlan& plan, XmlOut& out) {
  PoolStats st;
  st.nr_devices = plan.devices.size();
  st.nr_data_blocks = plan.nr_data_blocks;
  st.time = plan.time;
  st.data_block_size = plan.spec.data_block_size;
  for (const auto& d : plan.devices) {
    if (d.parent >= 0) ++st.nr_snapshots;
    st.max_depth = std::max<uint64_t>(st.max_depth, d.depth);
    st.max_dev_id = std::max(st.max_dev_id, d.dev_id);
  }

  out << "<superblock uuid=\"\" time=\"";
  out.num(plan.time) << "\" transaction=\"";
  out.num(plan.transaction) << "\" flags=\"";
  out.num(plan.spec.needs_check ? 1 : 0) << "\" version=\"";
  out.num(plan.spec.version) << "\" data_block_size=\"";
  out.num(plan.spec.data_block_size) << "\" nr_data_blocks=\"";
  out.num(plan.nr_data_blocks) << "\">\n";

  for (size_t index : plan.by_id) {
    const DevicePlan& d = plan.devices[index];
    // First pass: count the device's blocks (mapped_blocks comes before the mappings).
    uint64_t mapped = 0;
    {
      auto src = device_source(plan, index);
      Run r;
      while (src->next(r)) mapped += r.len;
    }
    out << "  <device dev_id=\"";
    out.num(d.dev_id) << "\" mapped_blocks=\"";
    out.num(mapped) << "\" transaction=\"";
    out.num(d.transaction) << "\" creation_time=\"";
    out.num(d.creation_time) << "\" snap_time=\"";
    out.num(d.snap_time) << "\">\n";

    MappingPrinter printer(out);
    auto src = device_source(plan, index);
    Run r;
    uint64_t check = 0;
    while (src->next(r)) {
      check += r.len;
      if (r.shared) st.nr_shared_mappings += r.len;
      st.max_data_block = std::max(st.max_data_block, r.data + r.len - 1);
      st.max_origin_block = std::max(st.max_origin_block, r.end() - 1);
      printer.add(r);
    }
    printer.flush();
    if (check != mapped) throw std::logic_error("pool generator: device stream is not deterministic");
    st.nr_mappings += mapped;
    st.nr_xml_mappings += printer.elements();
    out << "  </device>\n";
  }
  out << "</superblock>\n";
  out.finish();
  st.xml_bytes = out.total();
  return st;
}

}  // namespace

PoolStats write_pool_xml(const PoolSpec& spec, uint64_t seed, std::ostream& os) {
  PoolPlan plan = make_plan(spec, seed);
  XmlOut out([&os](const char* p, size_t n) { os.write(p, static_cast<std::streamsize>(n)); });
  PoolStats st = write_plan(plan, out);
  if (!os) throw std::runtime_error("pool generator: write failed");
  return st;
}

PoolStats write_pool_xml(const PoolSpec& spec, uint64_t seed, std::FILE* f) {
  PoolPlan plan = make_plan(spec, seed);
  bool ok = true;
  XmlOut out([&](const char* p, size_t n) {
    if (std::fwrite(p, 1, n, f) != n) ok = false;
  });
  PoolStats st = write_plan(plan, out);
  if (!ok || std::fflush(f) != 0) throw std::runtime_error("pool generator: write failed");
  return st;
}

PoolStats write_pool_xml_file(const PoolSpec& spec, uint64_t seed, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  PoolStats st;
  try {
    st = write_pool_xml(spec, seed, f);
  } catch (...) {
    std::fclose(f);
    throw;
  }
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  return st;
}

uint64_t metadata_size_for(const PoolStats& st) {
  // Every mapping is its own btree entry (252 per full leaf; leaves end up at least half
  // full), plus the data space map (one bitmap per 16320 data blocks and its index
  // btree), device trees and slack. Doubled: the file is sparse, so room costs nothing.
  uint64_t blocks = 256 + 4 * st.nr_devices + st.nr_mappings / 100 + st.nr_data_blocks / 16000 +
                    st.nr_data_blocks / (16000 * 100);
  uint64_t bytes = 2 * blocks * 4096;
  uint64_t min_bytes = uint64_t{8} << 20;
  return std::max(bytes, min_bytes);
}

}  // namespace thinsim::peer
