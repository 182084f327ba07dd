// thinsim run --check-model, the small translations between the pool's world and the
// reference model's: result words for reports, the kernel's argument parsing, a thin-pool
// table line as ref::PoolParams, a pool message as a RefPool call, and where two blocks of
// data first differ. Internal to the model check (model_check.cc and its parts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness/scenario_ast.h"
#include "model/ref/ref_pool.h"

namespace thinsim::harness::model_check {

// A description of the first divergence, or nothing.
using Divergence = std::optional<std::string>;

std::string errno_word(int err);
std::string result_word(bool queued, int err);

// "reference model: WHAT: model says X, reference says Y", or nothing when they agree.
Divergence disagree(const std::string& what, bool model_queued, int model_err, bool ref_queued,
                    int ref_err);
Divergence disagree(const std::string& what, int model_err, int ref_err);

std::string lower(std::string s);
std::vector<std::string> words(const std::string& text);  // dm_split_args on blanks

// kstrtoull(s, 10): optional '+', decimal digits, no overflow.
std::optional<uint64_t> decimal(const std::string& s);

std::string hex(std::byte b);

const char* mode_name(int mode);  // pool::PoolMode and ref::Mode share the kernel's order

// "thin-pool META DATA BLOCK_SIZE LOW_WATER [N FEATURES...]" as the reference's parameters.
std::optional<ref::PoolParams> pool_params(const TableLine& t, uint64_t no_space_timeout_ms);
// A metadata device's size in 4 KiB blocks as dm-thin sees it: capped at the largest
// metadata the space map can address (THIN_METADATA_MAX_SECTORS: 255 bitmaps of 16320
// blocks), the rest unused.
uint64_t metadata_blocks(uint64_t device_sectors);

// pool_message on the reference: the mode check first, then the arguments.
int ref_message(ref::RefPool& r, const std::vector<std::string>& argv);

// The first byte, within the sectors the reference defines, where the pool's data differs.
std::optional<size_t> first_difference(std::span<const std::byte> pool, const ref::ReadResult& r);

}  // namespace thinsim::harness::model_check
