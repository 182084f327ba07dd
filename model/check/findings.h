// What a metadata check found: each finding names the block (when there is one), where
// in the metadata it sits, and the problem. Fatal findings mean data may be lost or
// misread; non-fatal ones (leaked blocks, underfull nodes) break an invariant without
// losing data; notes record oddities that no reader depends on, such as stale
// allocation hints, which thin-provisioning-tools 0.9.0 itself writes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace thinsim::check {

enum class Severity { fatal, non_fatal, note };

struct Finding {
  Severity severity;
  std::optional<uint64_t> block;
  std::string where;    // e.g. "mapping tree of device 5"
  std::string problem;  // e.g. "keys out of order: 17 after 20 at entry 4"

  std::string to_string() const;
};

class Findings {
 public:
  // Stored findings are capped so hostile metadata cannot exhaust memory; the counts
  // stay exact.
  static constexpr size_t kMaxStored = 1000;

  void add(Severity s, std::optional<uint64_t> block, std::string where, std::string problem);
  void fatal(std::optional<uint64_t> block, std::string where, std::string problem) {
    add(Severity::fatal, block, std::move(where), std::move(problem));
  }
  void non_fatal(std::optional<uint64_t> block, std::string where, std::string problem) {
    add(Severity::non_fatal, block, std::move(where), std::move(problem));
  }
  void note(std::optional<uint64_t> block, std::string where, std::string problem) {
    add(Severity::note, block, std::move(where), std::move(problem));
  }

  const std::vector<Finding>& list() const { return list_; }
  uint64_t nr_fatal() const { return nr_fatal_; }
  uint64_t nr_non_fatal() const { return nr_non_fatal_; }
  uint64_t nr_notes() const { return nr_notes_; }
  uint64_t nr_dropped() const { return nr_fatal_ + nr_non_fatal_ + nr_notes_ - list_.size(); }
  bool clean() const { return nr_fatal_ == 0 && nr_non_fatal_ == 0; }

 private:
  std::vector<Finding> list_;
  uint64_t nr_fatal_ = 0, nr_non_fatal_ = 0, nr_notes_ = 0;
};

}  // namespace thinsim::check
