#include "model/ref/block_content.h"

#include <algorithm>
#include <stdexcept>

namespace thinsim::ref {

BlockContent::BlockContent(uint32_t sectors, bool defined) : sectors_(sectors) {
  if (!defined) undefined_.assign(sectors, true);
}

void BlockContent::read(uint32_t first, std::span<std::byte> out,
                        std::vector<bool>& defined) const {
  const uint64_t n = out.size() / kSectorBytes;
  if (first + n > sectors_) throw std::out_of_range("ref: read past the end of a block");
  if (bytes_.empty())
    std::fill(out.begin(), out.end(), std::byte{0});
  else
    std::copy_n(bytes_.begin() + first * kSectorBytes, out.size(), out.begin());
  for (uint64_t s = first; s < first + n; ++s) defined.push_back(this->defined(s));
}

void BlockContent::write(uint32_t first, std::span<const std::byte> in) {
  const uint64_t n = in.size() / kSectorBytes;
  if (first + n > sectors_) throw std::out_of_range("ref: write past the end of a block");
  if (bytes_.empty()) bytes_.resize(sectors_ * kSectorBytes);
  std::copy(in.begin(), in.end(), bytes_.begin() + first * kSectorBytes);
  if (!undefined_.empty()) {
    std::fill_n(undefined_.begin() + first, n, false);
    if (std::none_of(undefined_.begin(), undefined_.end(), [](bool u) { return u; }))
      undefined_.clear();
  }
}

void BlockContent::undefine_all() {
  bytes_.clear();
  undefined_.assign(sectors_, true);
}

}  // namespace thinsim::ref
