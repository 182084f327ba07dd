// Damaging dm-thin metadata images on purpose, and finding what to damage.
//
// classify_image() walks an intact image from the superblock through every root (mapping
// tree, device details, both space maps) and records each reachable block with the
// structure it belongs to. The damage helpers then change one thing: a flipped byte in one
// block of a chosen structure (so its checksum no longer matches), a truncated file, a
// zeroed superblock, a cycle in a btree (checksum recomputed so only the structure is
// wrong), or a wrong 2-bit reference count in a space-map bitmap (checksum recomputed).
// Each helper reports which block(s) a checker should name and what problem it should say.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/pdata/checksum.h"
#include "tests/peer/pool_generator.h"

namespace thinsim::peer {

inline constexpr uint64_t kBlockSize = 4096;
inline constexpr uint64_t kBitmapEntries = 16320;  // 2-bit entries per space-map bitmap
using BlockBytes = std::array<unsigned char, kBlockSize>;

// Which part of the metadata a block belongs to.
enum class Structure {
  superblock,
  mapping_top,         // level 1 of the mapping tree: dev id -> subtree root
  mapping_bottom,      // level 2: virtual block -> data block + time
  device_details,
  data_space_index,    // data space map: btree of bitmap index entries
  data_ref_count,      // data space map: overflow reference-count btree
  metadata_ref_count,  // metadata space map: overflow reference-count btree
  data_bitmap,
  metadata_bitmap,
  metadata_index,      // the metadata space map's single index block
};
std::string_view structure_name(Structure s);
pdata::BlockKind structure_block_kind(Structure s);

struct ClassifiedBlock {
  uint64_t block = 0;
  Structure structure = Structure::superblock;
  bool internal = false;                // an internal btree node
  uint32_t depth = 0;                   // 0 = root of its btree
  std::optional<uint64_t> parent;       // the btree node pointing to it
  uint64_t owner = 0;                   // mapping_bottom: the device id
  uint32_t nr_entries = 0;              // btree nodes
};

// Everything reachable from the superblock of an intact image.
struct ImageMap {
  uint64_t file_bytes = 0;
  uint64_t metadata_nr_blocks = 0;  // from the metadata space-map root
  uint64_t data_nr_blocks = 0;      // from the data space-map root
  uint64_t mapping_root = 0, details_root = 0;
  uint64_t data_index_root = 0, data_ref_root = 0;
  uint64_t metadata_index = 0, metadata_ref_root = 0;
  std::vector<ClassifiedBlock> blocks;     // each reachable block once
  std::vector<uint64_t> data_bitmaps;      // bitmap number -> block
  std::vector<uint64_t> metadata_bitmaps;  // bitmap number -> block
  std::vector<uint64_t> sample_data_blocks;  // some mapped data blocks
  uint64_t overflow_entries = 0;           // entries in the data ref-count tree
  std::vector<std::string> problems;       // what the walk could not follow

  uint64_t max_block() const;  // highest reachable block
  const ClassifiedBlock* find(uint64_t block) const;
  std::vector<const ClassifiedBlock*> of(Structure s) const;
  // The btree ancestors of a block, nearest first.
  std::vector<uint64_t> ancestors(uint64_t block) const;
  // "superblock:1 mapping_top:1 ..." for logs.
  std::string summary() const;
};

// Walks an image file. Throws std::runtime_error if it cannot be read or the superblock is
// not valid; damaged inner blocks are skipped and noted in `problems`.
ImageMap classify_image(const std::string& path);

// ---- low-level helpers (all throw std::runtime_error on I/O failure)

BlockBytes read_block(const std::string& path, uint64_t block);
void write_block(const std::string& path, uint64_t block, const BlockBytes& bytes);
void copy_file(const std::string& from, const std::string& to);
// XORs one byte of a block with `mask` (non-zero); the checksum is left stale.
void flip_byte(const std::string& path, uint64_t block, uint32_t offset, uint8_t mask = 0xff);
// Recomputes the stored checksum of a block, as a block of this kind.
void recompute_checksum(const std::string& path, uint64_t block, pdata::BlockKind kind);
void truncate_image(const std::string& path, uint64_t bytes);
void zero_superblock(const std::string& path);

// 2-bit space-map entries: 0 free, 1, 2, 3 = "see the overflow tree".
uint32_t bitmap_entry(const BlockBytes& bitmap, uint32_t index);
void set_bitmap_entry(BlockBytes& bitmap, uint32_t index, uint32_t value);

// ---- the damage catalogue

enum class DamageKind {
  flip_superblock,
  flip_mapping_top,
  flip_mapping_bottom,
  flip_device_details,
  flip_data_space_index,
  flip_data_ref_count,
  flip_metadata_ref_count,
  flip_data_bitmap,
  flip_metadata_bitmap,
  flip_metadata_index,
  truncate,
  zero_superblock,
  cycle,
  ref_count_data,
  ref_count_metadata,
};
const std::vector<DamageKind>& all_damage_kinds();
std::string_view damage_name(DamageKind k);
std::optional<DamageKind> parse_damage(std::string_view name);

struct Damage {
  DamageKind kind{};
  std::string description;            // what was changed, for humans
  uint64_t block = 0;                 // the block damaged (or first block cut off)
  std::vector<uint64_t> name_blocks;  // a report must name at least one of these numbers
  bool superblock_word_names_block0 = false;  // "superblock" counts as naming block 0
  // Words separated by '|': the report must contain one of them (case-insensitive).
  std::string problem_pattern;
  std::string problem_words;          // the same, in words, for failure messages
  std::vector<int> accepted_exit_codes;  // a damage report exits with one of these
};

// Applies one damage to the image file in place. Returns nothing when the image has no
// block the damage applies to. Draws its choices (which block, which byte) from rng.
std::optional<Damage> apply_damage(DamageKind kind, const std::string& path, const ImageMap& map,
                                   Rng& rng);

// Individual structural damages (used by apply_damage; exposed for tests).
// Makes child `i` of an internal node point back at the node itself or one of its
// ancestors, preferring mapping subtrees; recomputes the node's checksum.
std::optional<Damage> make_cycle(const std::string& path, const ImageMap& map, Rng& rng);
// Changes the 2-bit count of a referenced data block (data_sm) or metadata block in its
// bitmap, and recomputes the bitmap's checksum.
std::optional<Damage> corrupt_ref_count(const std::string& path, const ImageMap& map, bool data_sm,
                                        Rng& rng);

}  // namespace thinsim::peer
