#include "model/check/findings.h"

namespace thinsim::check {

std::string Finding::to_string() const {
  std::string s;
  if (block) s += "block " + std::to_string(*block) + " ";
  if (!where.empty()) s += "(" + where + ")";
  if (!s.empty()) s += ": ";
  s += problem;
  return s;
}

void Findings::add(Severity s, std::optional<uint64_t> block, std::string where,
                   std::string problem) {
  (s == Severity::fatal ? nr_fatal_ : s == Severity::non_fatal ? nr_non_fatal_ : nr_notes_)++;
  if (list_.size() < kMaxStored) list_.push_back(Finding{s, block, std::move(where), std::move(problem)});
}

}  // namespace thinsim::check
