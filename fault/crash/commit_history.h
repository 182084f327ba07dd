// The metadata device's commits as its IO shows them: a superblock write starts one (in
// flight until a FLUSH, or its own FUA, makes it durable). Each record holds what the
// image said at that moment, read with thinsim's checker and dumper. Between commits it
// applies the copy-on-write rule: no block the durable (or an in-flight) superblock
// reaches may be written before the next commit.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fault/crash/metadata_view.h"
#include "sim/sim_disk.h"

namespace thinsim::fault {

struct CommitRecord {
  uint64_t seq = 0;  // the superblock write; 0 for the image as it was at the start
  uint64_t previous_seq = 0;  // the superblock write before it (0 if none)
  MetadataView view;
  std::string xml;   // thin_dump's text of it
  std::vector<std::byte> superblock;  // block 0's bytes
};

class CommitHistory {
 public:
  // The metadata disk's contents before any IO of the run (a new pool's: zeroes).
  void start(sim::SimDisk& meta);
  // A COW-rule violation this IO commits, if any.
  std::optional<std::string> in_flight(sim::SimDisk& meta, const sim::IoEvent& io);
  // A pool object opens the metadata (a thin-pool table is created over it).
  void pool_opened() { writes_since_open_ = 0; }
  // Something other than a freshly opened pool writes now (an offline tool, a close).
  void pool_busy() { writes_since_open_ = 1; }
  // A superblock written again byte for byte as the durable one before the pool wrote
  // anything else since it opened the metadata: when closing, a commit by a pool that
  // is not in service (it widens the torn-superblock window and rewrites metadata another host
  // may own). Cleared by the next in_flight().
  const std::optional<std::string>& idle_commit() const { return idle_commit_; }
  void completed(sim::SimDisk& meta, const sim::IoEvent& io);

  const CommitRecord& durable() const { return durable_; }
  // Superblocks written since the last durable commit, oldest first: a crash may leave
  // any one of them.
  const std::vector<CommitRecord>& in_flight_commits() const { return in_flight_; }
  uint64_t durable_commits() const { return durable_commits_; }
  // The record whose fingerprint matches, if any.
  const CommitRecord* match(const std::string& fingerprint) const;

 private:
  CommitRecord record(sim::SimDisk& meta, uint64_t seq);
  CommitRecord durable_;
  std::vector<CommitRecord> in_flight_;
  uint64_t durable_commits_ = 0;
  std::optional<std::string> idle_commit_;
  uint64_t writes_since_open_ = 1;  // no pool has opened the metadata yet
};

}  // namespace thinsim::fault
