#include "tests/peer/damage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "model/pdata/btree_node.h"

namespace thinsim::peer {

namespace {

// Superblock offsets (thin_disk_superblock).
constexpr size_t kSbHeldRoot = 56;
constexpr size_t kSbDataSmRoot = 64;
constexpr size_t kSbMetaSmRoot = 192;
constexpr size_t kSbMappingRoot = 320;
constexpr size_t kSbDetailsRoot = 328;
// disk_sm_root fields.
constexpr size_t kSmNrBlocks = 0;
constexpr size_t kSmBitmapRoot = 16;
constexpr size_t kSmRefRoot = 24;
constexpr uint32_t kMaxMetadataBitmaps = 255;

uint64_t le64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void put_le32(unsigned char* p, uint32_t v) { std::memcpy(p, &v, 4); }

std::string io_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

class Fd {
 public:
  Fd(const std::string& path, int flags) : path_(path), fd_(::open(path.c_str(), flags | O_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error(io_error("cannot open", path));
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  uint64_t size() const {
    struct stat st;
    if (::fstat(fd_, &st) != 0) throw std::runtime_error(io_error("cannot stat", path_));
    return static_cast<uint64_t>(st.st_size);
  }
  // False when the block lies (partly) beyond the end of the file.
  bool read(uint64_t block, BlockBytes& out) const {
    size_t done = 0;
    while (done < kBlockSize) {
      ssize_t n = ::pread(fd_, out.data() + done, kBlockSize - done,
                          static_cast<off_t>(block * kBlockSize + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(io_error("cannot read", path_));
      if (n == 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  void write(uint64_t block, const BlockBytes& in) const {
    size_t done = 0;
    while (done < kBlockSize) {
      ssize_t n = ::pwrite(fd_, in.data() + done, kBlockSize - done,
                           static_cast<off_t>(block * kBlockSize + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error(io_error("cannot write", path_));
      done += static_cast<size_t>(n);
    }
  }

 private:
  std::string path_;
  int fd_;
};

bool is_node(const BlockBytes& b) {
  auto k = pdata::identify_block(b.data());
  return k && *k == pdata::BlockKind::btree_node;
}

class Walker {
 public:
  Walker(const Fd& fd, ImageMap& map) : fd_(fd), map_(map) {}

  bool load(uint64_t b, BlockBytes& out, const char* what) {
    if (!fd_.read(b, out)) {
      map_.problems.push_back(std::string(what) + ": block " + std::to_string(b) + " beyond the end");
      return false;
    }
    return true;
  }

  void add(const ClassifiedBlock& c) {
    if (index_.count(c.block)) return;
    index_[c.block] = map_.blocks.size();
    map_.blocks.push_back(c);
  }

  // Walks a btree; calls leaf(node, info) for each leaf.
  template <typename Leaf>
  void walk(uint64_t root, Structure s, uint64_t owner, std::optional<uint64_t> parent, Leaf&& leaf) {
    struct Item {
      uint64_t block;
      uint32_t depth;
      std::optional<uint64_t> parent;
    };
    std::vector<Item> stack{{root, 0, parent}};
    BlockBytes buf;
    while (!stack.empty()) {
      Item it = stack.back();
      stack.pop_back();
      if (it.depth > 64) {
        map_.problems.push_back("btree too deep at block " + std::to_string(it.block));
        continue;
      }
      if (walked_.count(it.block)) continue;  // shared subtree (or a cycle): once is enough
      walked_.insert(it.block);
      if (!load(it.block, buf, std::string(structure_name(s)).c_str())) continue;
      if (!is_node(buf)) {
        map_.problems.push_back(std::string(structure_name(s)) + ": block " + std::to_string(it.block) +
                                " is not a valid btree node");
        continue;
      }
      pdata::ConstNode node(reinterpret_cast<const std::byte*>(buf.data()));
      uint32_t nr = node.nr_entries();
      if (node.max_entries() > (kBlockSize - 32) / 8 || nr > node.max_entries() ||
          32 + uint64_t{node.max_entries()} * (8 + node.value_size()) > kBlockSize) {
        map_.problems.push_back("bad node header at block " + std::to_string(it.block));
        continue;
      }
      ClassifiedBlock c;
      c.block = it.block;
      c.structure = s;
      c.internal = node.is_internal();
      c.depth = it.depth;
      c.parent = it.parent;
      c.owner = owner;
      c.nr_entries = nr;
      add(c);
      if (node.is_internal()) {
        for (uint32_t i = nr; i-- > 0;) stack.push_back({node.value64(i), it.depth + 1, it.block});
      } else {
        leaf(node, c);
      }
    }
  }

 private:
  const Fd& fd_;
  ImageMap& map_;
  std::map<uint64_t, size_t> index_;
  std::set<uint64_t> walked_;
};

}  // namespace

std::string_view structure_name(Structure s) {
  switch (s) {
    case Structure::superblock: return "superblock";
    case Structure::mapping_top: return "mapping_top";
    case Structure::mapping_bottom: return "mapping_bottom";
    case Structure::device_details: return "device_details";
    case Structure::data_space_index: return "data_space_index";
    case Structure::data_ref_count: return "data_ref_count";
    case Structure::metadata_ref_count: return "metadata_ref_count";
    case Structure::data_bitmap: return "data_bitmap";
    case Structure::metadata_bitmap: return "metadata_bitmap";
    case Structure::metadata_index: return "metadata_index";
  }
  return "?";
}

pdata::BlockKind structure_block_kind(Structure s) {
  switch (s) {
    case Structure::superblock: return pdata::BlockKind::superblock;
    case Structure::data_bitmap:
    case Structure::metadata_bitmap: return pdata::BlockKind::bitmap;
    case Structure::metadata_index: return pdata::BlockKind::metadata_index;
    default: return pdata::BlockKind::btree_node;
  }
}

uint64_t ImageMap::max_block() const {
  uint64_t m = 0;
  for (const auto& b : blocks) m = std::max(m, b.block);
  return m;
}

const ClassifiedBlock* ImageMap::find(uint64_t block) const {
  for (const auto& b : blocks)
    if (b.block == block) return &b;
  return nullptr;
}

std::vector<const ClassifiedBlock*> ImageMap::of(Structure s) const {
  std::vector<const ClassifiedBlock*> v;
  for (const auto& b : blocks)
    if (b.structure == s) v.push_back(&b);
  return v;
}

std::vector<uint64_t> ImageMap::ancestors(uint64_t block) const {
  std::vector<uint64_t> v;
  const ClassifiedBlock* c = find(block);
  while (c && c->parent && v.size() < 128) {
    v.push_back(*c->parent);
    c = find(*c->parent);
  }
  return v;
}

std::string ImageMap::summary() const {
  std::map<std::string, uint64_t> counts;
  for (const auto& b : blocks) counts[std::string(structure_name(b.structure)) + (b.internal ? "(internal)" : "")]++;
  std::ostringstream os;
  bool first = true;
  for (const auto& [k, v] : counts) {
    os << (first ? "" : " ") << k << ":" << v;
    first = false;
  }
  os << " overflow_entries:" << overflow_entries;
  return os.str();
}

ImageMap classify_image(const std::string& path) {
  Fd fd(path, O_RDONLY);
  ImageMap map;
  map.file_bytes = fd.size();
  BlockBytes sb;
  if (!fd.read(0, sb)) throw std::runtime_error(path + ": no superblock (file too short)");
  auto kind = pdata::identify_block(sb.data());
  if (!kind || *kind != pdata::BlockKind::superblock)
    throw std::runtime_error(path + ": block 0 is not a valid superblock");
  Walker w(fd, map);
  w.add({0, Structure::superblock, false, 0, std::nullopt, 0, 0});
  if (le64(sb.data() + kSbHeldRoot) != 0) map.problems.push_back("metadata snapshot present (not walked)");

  map.mapping_root = le64(sb.data() + kSbMappingRoot);
  map.details_root = le64(sb.data() + kSbDetailsRoot);
  map.data_nr_blocks = le64(sb.data() + kSbDataSmRoot + kSmNrBlocks);
  map.data_index_root = le64(sb.data() + kSbDataSmRoot + kSmBitmapRoot);
  map.data_ref_root = le64(sb.data() + kSbDataSmRoot + kSmRefRoot);
  map.metadata_nr_blocks = le64(sb.data() + kSbMetaSmRoot + kSmNrBlocks);
  map.metadata_index = le64(sb.data() + kSbMetaSmRoot + kSmBitmapRoot);
  map.metadata_ref_root = le64(sb.data() + kSbMetaSmRoot + kSmRefRoot);

  // Mapping tree: level 1 leaves hold subtree roots.
  std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> subtrees;  // dev, (root, parent)
  w.walk(map.mapping_root, Structure::mapping_top, 0, std::nullopt,
         [&](const pdata::ConstNode& n, const ClassifiedBlock& c) {
           for (uint32_t i = 0; i < n.nr_entries(); ++i) subtrees.push_back({n.key(i), {n.value64(i), c.block}});
         });
  for (const auto& [dev, rp] : subtrees) {
    w.walk(rp.first, Structure::mapping_bottom, dev, rp.second,
           [&](const pdata::ConstNode& n, const ClassifiedBlock&) {
             if (n.nr_entries() > 0 && map.sample_data_blocks.size() < 4096)
               map.sample_data_blocks.push_back(n.value64(n.nr_entries() / 2) >> 24);
           });
  }
  w.walk(map.details_root, Structure::device_details, 0, std::nullopt,
         [](const pdata::ConstNode&, const ClassifiedBlock&) {});

  // Data space map: index btree (key = bitmap number) and overflow tree.
  std::map<uint64_t, uint64_t> data_bitmaps;
  w.walk(map.data_index_root, Structure::data_space_index, 0, std::nullopt,
         [&](const pdata::ConstNode& n, const ClassifiedBlock&) {
           for (uint32_t i = 0; i < n.nr_entries(); ++i)
             data_bitmaps[n.key(i)] = le64(reinterpret_cast<const unsigned char*>(n.value_ptr(i)));
         });
  for (const auto& [nr, b] : data_bitmaps) {
    if (map.data_bitmaps.size() != nr) {
      map.problems.push_back("data space map index has a gap before bitmap " + std::to_string(nr));
      break;
    }
    map.data_bitmaps.push_back(b);
    w.add({b, Structure::data_bitmap, false, 0, std::nullopt, 0, 0});
  }
  w.walk(map.data_ref_root, Structure::data_ref_count, 0, std::nullopt,
         [&](const pdata::ConstNode& n, const ClassifiedBlock&) { map.overflow_entries += n.nr_entries(); });

  // Metadata space map: one index block listing the bitmaps, and its overflow tree.
  BlockBytes idx;
  if (fd.read(map.metadata_index, idx)) {
    w.add({map.metadata_index, Structure::metadata_index, false, 0, std::nullopt, 0, 0});
    uint64_t want = (map.metadata_nr_blocks + kBitmapEntries - 1) / kBitmapEntries;
    for (uint64_t i = 0; i < std::min<uint64_t>(want, kMaxMetadataBitmaps); ++i) {
      uint64_t b = le64(idx.data() + 16 + 16 * i);
      if (b == 0) break;
      map.metadata_bitmaps.push_back(b);
      w.add({b, Structure::metadata_bitmap, false, 0, std::nullopt, 0, 0});
    }
  } else {
    map.problems.push_back("metadata index block beyond the end");
  }
  w.walk(map.metadata_ref_root, Structure::metadata_ref_count, 0, std::nullopt,
         [](const pdata::ConstNode&, const ClassifiedBlock&) {});
  return map;
}

// ---------------------------------------------------------------- low level

BlockBytes read_block(const std::string& path, uint64_t block) {
  Fd fd(path, O_RDONLY);
  BlockBytes b;
  if (!fd.read(block, b)) throw std::runtime_error(path + ": block " + std::to_string(block) + " beyond the end");
  return b;
}

void write_block(const std::string& path, uint64_t block, const BlockBytes& bytes) {
  Fd fd(path, O_WRONLY);
  fd.write(block, bytes);
}

void copy_file(const std::string& from, const std::string& to) {
  Fd in(from, O_RDONLY);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) throw std::runtime_error(io_error("cannot create", to));
  uint64_t size = in.size();
  // Images are sparse (thinsim and the tools leave the free space as holes): copy only the
  // data extents, and keep the holes.
  std::vector<unsigned char> buf(1 << 20);
  bool ok = true;
  auto copy_range = [&](uint64_t off, uint64_t end) {
    while (off < end && ok) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - off));
      ssize_t n = ::pread(in.get(), buf.data(), want, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      size_t done = 0;
      while (done < static_cast<size_t>(n)) {
        ssize_t w = ::pwrite(out, buf.data() + done, static_cast<size_t>(n) - done, static_cast<off_t>(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          ok = false;
          break;
        }
        done += static_cast<size_t>(w);
      }
      off += static_cast<uint64_t>(n);
    }
  };
  uint64_t pos = 0;
  while (pos < size && ok) {
    off_t data = ::lseek(in.get(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      copy_range(pos, size);      // no SEEK_DATA support: copy everything
      break;
    }
    off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
    uint64_t end = hole < 0 ? size : std::min<uint64_t>(size, static_cast<uint64_t>(hole));
    copy_range(static_cast<uint64_t>(data), end);
    pos = end;
  }
  if (ok && ::ftruncate(out, static_cast<off_t>(size)) != 0) ok = false;
  int saved = errno;
  ::close(out);
  errno = saved;
  if (!ok) throw std::runtime_error(io_error("cannot copy " + from + " to", to));
}

void flip_byte(const std::string& path, uint64_t block, uint32_t offset, uint8_t mask) {
  if (offset >= kBlockSize || mask == 0) throw std::invalid_argument("flip_byte: bad offset or mask");
  BlockBytes b = read_block(path, block);
  b[offset] ^= mask;
  write_block(path, block, b);
}

void recompute_checksum(const std::string& path, uint64_t block, pdata::BlockKind kind) {
  BlockBytes b = read_block(path, block);
  put_le32(b.data(), pdata::block_checksum(b.data(), kind));
  write_block(path, block, b);
}

void truncate_image(const std::string& path, uint64_t bytes) {
  if (::truncate(path.c_str(), static_cast<off_t>(bytes)) != 0)
    throw std::runtime_error(io_error("cannot truncate", path));
}

void zero_superblock(const std::string& path) { write_block(path, 0, BlockBytes{}); }

uint32_t bitmap_entry(const BlockBytes& bm, uint32_t index) {
  // Byte 16 + index/4; within it, bit 2k is the high bit and bit 2k+1 the low bit.
  unsigned char byte = bm[16 + index / 4];
  uint32_t k = index % 4;
  uint32_t hi = (byte >> (2 * k)) & 1, lo = (byte >> (2 * k + 1)) & 1;
  return (hi << 1) | lo;
}

void set_bitmap_entry(BlockBytes& bm, uint32_t index, uint32_t value) {
  unsigned char& byte = bm[16 + index / 4];
  uint32_t k = index % 4;
  byte = static_cast<unsigned char>(byte & ~(3u << (2 * k)));
  byte = static_cast<unsigned char>(byte | ((((value >> 1) & 1) | ((value & 1) << 1)) << (2 * k)));
}

// ---------------------------------------------------------------- catalogue

const std::vector<DamageKind>& all_damage_kinds() {
  static const std::vector<DamageKind> kinds = {
      DamageKind::flip_superblock,       DamageKind::flip_mapping_top,     DamageKind::flip_mapping_bottom,
      DamageKind::flip_device_details,   DamageKind::flip_data_space_index, DamageKind::flip_data_ref_count,
      DamageKind::flip_metadata_ref_count, DamageKind::flip_data_bitmap,   DamageKind::flip_metadata_bitmap,
      DamageKind::flip_metadata_index,   DamageKind::truncate,             DamageKind::zero_superblock,
      DamageKind::cycle,                 DamageKind::ref_count_data,       DamageKind::ref_count_metadata,
  };
  return kinds;
}

std::string_view damage_name(DamageKind k) {
  switch (k) {
    case DamageKind::flip_superblock: return "flip_superblock";
    case DamageKind::flip_mapping_top: return "flip_mapping_top";
    case DamageKind::flip_mapping_bottom: return "flip_mapping_bottom";
    case DamageKind::flip_device_details: return "flip_device_details";
    case DamageKind::flip_data_space_index: return "flip_data_space_index";
    case DamageKind::flip_data_ref_count: return "flip_data_ref_count";
    case DamageKind::flip_metadata_ref_count: return "flip_metadata_ref_count";
    case DamageKind::flip_data_bitmap: return "flip_data_bitmap";
    case DamageKind::flip_metadata_bitmap: return "flip_metadata_bitmap";
    case DamageKind::flip_metadata_index: return "flip_metadata_index";
    case DamageKind::truncate: return "truncate";
    case DamageKind::zero_superblock: return "zero_superblock";
    case DamageKind::cycle: return "cycle";
    case DamageKind::ref_count_data: return "ref_count_data";
    case DamageKind::ref_count_metadata: return "ref_count_metadata";
  }
  return "?";
}

std::optional<DamageKind> parse_damage(std::string_view name) {
  for (DamageKind k : all_damage_kinds())
    if (damage_name(k) == name) return k;
  return std::nullopt;
}

namespace {

constexpr const char* kChecksumPattern = "checksum|csum";
constexpr const char* kChecksumWords = "a checksum error";

std::optional<Damage> flip_in(Structure s, DamageKind kind, const std::string& path, const ImageMap& map,
                              Rng& rng) {
  auto candidates = map.of(s);
  if (candidates.empty()) return std::nullopt;
  const ClassifiedBlock& c = *candidates[rng.below(candidates.size())];
  auto offset = static_cast<uint32_t>(rng.below(kBlockSize));
  auto mask = static_cast<uint8_t>(rng.between(1, 255));
  flip_byte(path, c.block, offset, mask);
  Damage d;
  d.kind = kind;
  d.block = c.block;
  d.name_blocks = {c.block};
  d.superblock_word_names_block0 = (s == Structure::superblock);
  std::ostringstream os;
  os << "byte " << offset << " of block " << c.block << " (" << structure_name(s)
     << (c.internal ? ", internal node" : "") << (s == Structure::mapping_bottom ? ", device " + std::to_string(c.owner) : "")
     << ") XORed with 0x" << std::hex << unsigned(mask) << "; checksum left stale";
  d.description = os.str();
  d.problem_pattern = kChecksumPattern;
  d.problem_words = kChecksumWords;
  // Validators check some header fields before the checksum (the kernel: blocknr, then the
  // superblock magic, then the checksum); a flip there may rightly be reported as that.
  if (offset >= 8 && offset < 16) {
    d.problem_pattern += "|blocknr|block number|location";
    d.problem_words += " or a wrong self-location (blocknr)";
  }
  if (s == Structure::superblock && offset >= 32 && offset < 40) {
    d.problem_pattern += "|magic";
    d.problem_words += " or a bad magic number";
  }
  d.accepted_exit_codes = {1};
  return d;
}

}  // namespace

std::optional<Damage> make_cycle(const std::string& path, const ImageMap& map, Rng& rng) {
  // Prefer the mapping subtrees (the deepest trees), then any other tree.
  const Structure order[] = {Structure::mapping_bottom, Structure::mapping_top, Structure::data_space_index,
                             Structure::device_details, Structure::data_ref_count, Structure::metadata_ref_count};
  std::vector<const ClassifiedBlock*> internals;
  for (Structure s : order) {
    for (const auto* c : map.of(s))
      if (c->internal && c->nr_entries > 0) internals.push_back(c);
    if (!internals.empty()) break;
  }
  if (internals.empty()) return std::nullopt;
  // Prefer nodes that have an ancestor in their own tree (a true back edge).
  std::vector<const ClassifiedBlock*> deep;
  for (const auto* c : internals)
    if (c->depth > 0) deep.push_back(c);
  const auto& pool = deep.empty() ? internals : deep;
  const ClassifiedBlock& node = *pool[rng.below(pool.size())];

  std::vector<uint64_t> targets{node.block};
  for (uint64_t a : map.ancestors(node.block)) {
    const ClassifiedBlock* ac = map.find(a);
    if (!ac || ac->structure != node.structure) break;
    targets.push_back(a);
  }
  uint64_t target = deep.empty() ? node.block : targets[1 + rng.below(targets.size() - 1)];
  auto child = static_cast<uint32_t>(rng.below(node.nr_entries));

  BlockBytes b = read_block(path, node.block);
  pdata::Node n(reinterpret_cast<std::byte*>(b.data()));
  uint64_t old_child = n.value64(child);
  n.set_value64(child, target);
  put_le32(b.data(), pdata::block_checksum(b.data(), pdata::BlockKind::btree_node));
  write_block(path, node.block, b);

  Damage d;
  d.kind = DamageKind::cycle;
  d.block = node.block;
  d.name_blocks = {node.block, target};
  std::ostringstream os;
  os << "child " << child << " of internal node " << node.block << " (" << structure_name(node.structure);
  if (node.structure == Structure::mapping_bottom) os << ", device " << node.owner;
  os << ", depth " << node.depth << ") changed from block " << old_child << " to "
     << (target == node.block ? "the node itself" : "its ancestor " + std::to_string(target))
     << "; checksum recomputed";
  d.description = os.str();
  d.problem_pattern = "cycle|loop|ancestor|recurs|visited|more than once|twice|already seen|already walked";
  d.problem_words = "a cycle (e.g. 'cycle', 'loop', 'visited twice')";
  d.accepted_exit_codes = {1};
  return d;
}

std::optional<Damage> corrupt_ref_count(const std::string& path, const ImageMap& map, bool data_sm, Rng& rng) {
  // Pick a block whose count is 1 or 2 (a 3 would leave an overflow entry behind).
  std::vector<uint64_t> candidates;
  if (data_sm) {
    candidates = map.sample_data_blocks;
  } else {
    for (const auto& c : map.blocks)
      if (c.structure == Structure::mapping_bottom || c.structure == Structure::device_details ||
          c.structure == Structure::mapping_top)
        candidates.push_back(c.block);
  }
  const auto& bitmaps = data_sm ? map.data_bitmaps : map.metadata_bitmaps;
  for (size_t attempt = 0; attempt < 64 && !candidates.empty(); ++attempt) {
    uint64_t target = candidates[rng.below(candidates.size())];
    uint64_t bm_nr = target / kBitmapEntries;
    if (bm_nr >= bitmaps.size()) continue;
    uint64_t bm_block = bitmaps[bm_nr];
    auto entry = static_cast<uint32_t>(target % kBitmapEntries);
    BlockBytes bm = read_block(path, bm_block);
    uint32_t old_value = bitmap_entry(bm, entry);
    if (old_value != 1 && old_value != 2) continue;
    // Lower the count (a block in use looks less used or free) or raise it (a leak).
    uint32_t new_value = rng.chance(0.5) ? old_value - 1 : old_value + 1;
    if (new_value == 3) new_value = 1;
    set_bitmap_entry(bm, entry, new_value);
    put_le32(bm.data(), pdata::block_checksum(bm.data(), pdata::BlockKind::bitmap));
    write_block(path, bm_block, bm);

    Damage d;
    d.kind = data_sm ? DamageKind::ref_count_data : DamageKind::ref_count_metadata;
    d.block = bm_block;
    d.name_blocks = {target, bm_block};
    std::ostringstream os;
    os << (data_sm ? "data" : "metadata") << " block " << target << ": reference count in bitmap block "
       << bm_block << " (entry " << entry << ") changed from " << old_value << " to " << new_value
       << "; bitmap checksum recomputed";
    d.description = os.str();
    d.problem_pattern = "count|reference|refcount|leak";
    d.problem_words = "a reference-count mismatch";
    d.accepted_exit_codes = {1};
    return d;
  }
  return std::nullopt;
}

std::optional<Damage> apply_damage(DamageKind kind, const std::string& path, const ImageMap& map, Rng& rng) {
  switch (kind) {
    case DamageKind::flip_superblock: return flip_in(Structure::superblock, kind, path, map, rng);
    case DamageKind::flip_mapping_top: return flip_in(Structure::mapping_top, kind, path, map, rng);
    case DamageKind::flip_mapping_bottom: return flip_in(Structure::mapping_bottom, kind, path, map, rng);
    case DamageKind::flip_device_details: return flip_in(Structure::device_details, kind, path, map, rng);
    case DamageKind::flip_data_space_index: return flip_in(Structure::data_space_index, kind, path, map, rng);
    case DamageKind::flip_data_ref_count: return flip_in(Structure::data_ref_count, kind, path, map, rng);
    case DamageKind::flip_metadata_ref_count:
      return flip_in(Structure::metadata_ref_count, kind, path, map, rng);
    case DamageKind::flip_data_bitmap: return flip_in(Structure::data_bitmap, kind, path, map, rng);
    case DamageKind::flip_metadata_bitmap: return flip_in(Structure::metadata_bitmap, kind, path, map, rng);
    case DamageKind::flip_metadata_index: return flip_in(Structure::metadata_index, kind, path, map, rng);
    case DamageKind::truncate: {
      uint64_t last = map.max_block();
      if (last == 0) return std::nullopt;
      truncate_image(path, last * kBlockSize);
      Damage d;
      d.kind = kind;
      d.block = last;
      d.name_blocks = {last};
      d.description = "file truncated to " + std::to_string(last) + " blocks (" +
                      std::to_string(last * kBlockSize) + " bytes), cutting off block " + std::to_string(last) +
                      " (" + std::string(structure_name(map.find(last)->structure)) + ") and the free space after it";
      d.problem_pattern =
          "truncat|short|beyond|past the end|end of|out of range|out of bounds|too small|smaller|size|eof|"
          "missing|outside";
      d.problem_words = "a truncated device (e.g. 'beyond the end', 'too small', 'truncated')";
      d.accepted_exit_codes = {1, 4};
      return d;
    }
    case DamageKind::zero_superblock: {
      zero_superblock(path);
      Damage d;
      d.kind = kind;
      d.block = 0;
      d.name_blocks = {0};
      d.superblock_word_names_block0 = true;
      d.description = "block 0 (superblock) overwritten with zeros";
      d.problem_pattern = "checksum|csum|magic|zero|blank|unformatted|no superblock|not a superblock";
      d.problem_words = "an unusable superblock (checksum/magic/zeroed)";
      d.accepted_exit_codes = {1};
      return d;
    }
    case DamageKind::cycle: return make_cycle(path, map, rng);
    case DamageKind::ref_count_data: return corrupt_ref_count(path, map, true, rng);
    case DamageKind::ref_count_metadata: return corrupt_ref_count(path, map, false, rng);
  }
  return std::nullopt;
}

}  // namespace thinsim::peer
