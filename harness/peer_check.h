// thinsim run --check-peer: the real thin-provisioning-tools judge the metadata at every
// commit. A commit is seen at the disk, as the flush that follows a superblock write on a
// pool's metadata disk; at that moment the disk's image goes through thin_check (which
// must pass) and thin_dump, whose XML must be byte-identical to thinsim's own dump of the
// image (and, with a metadata snapshot held, likewise for thin_dump -m). After each step,
// the newest dump is also compared with what the reference model says was committed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "harness/disk_tap.h"
#include "harness/scenario_runner.h"
#include "peer/peer_tools.h"

namespace thinsim::ref {
class RefPool;
}

namespace thinsim::harness {

class PeerCheck final : public StepObserver, public DiskTap {
 public:
  // The reference model of the pool on a metadata disk, if one is being kept.
  using ReferenceLookup = std::function<const ref::RefPool*(const std::string& metadata_disk)>;

  // Images, dumps and tool output go to work_dir (which must exist). Taps dm's disks.
  PeerCheck(DmCore& dm, peer::PeerTools tools, std::string work_dir, ReferenceLookup reference = {});
  ~PeerCheck() override;
  PeerCheck(const PeerCheck&) = delete;
  PeerCheck& operator=(const PeerCheck&) = delete;

  void before_step(const Command& cmd, DmCore& dm) override;
  std::optional<std::string> after_step(const Command& cmd, const StepOutcome& out, DmCore& dm) override;
  std::vector<std::string> take_notes() override {
    std::vector<std::string> out;
    out.swap(notes_);
    return out;
  }

  void written(const std::string& disk, uint64_t sector, uint64_t nr_sectors, bool fua) override;
  void flushed(const std::string& disk) override;
  void discarded(const std::string& disk, uint64_t sector, uint64_t nr_sectors) override;

  uint64_t commits_checked() const { return commits_checked_; }
  uint64_t model_comparisons() const { return model_comparisons_; }

 private:
  std::vector<std::string> notes_;
  struct Watched {
    bool filled = false;          // the disk started with a non-zero fill pattern
    bool copied = false;          // the image holds the whole disk once
    bool superblock_written = false;
    std::set<uint64_t> dirty;     // 4 KiB pages written since the image was updated
    uint64_t commits = 0;
    std::string dump;             // thin_dump of the newest commit
    bool dump_is_new = false;     // not yet compared with the model
  };

  std::string image_path(const std::string& disk) const;
  void update_image(const std::string& disk, Watched& w);
  std::optional<std::string> check_commit(const std::string& disk, Watched& w);
  std::optional<std::string> compare_dumps(const std::string& disk, Watched& w, bool metadata_snap);
  std::string keep(const std::string& disk, const Watched& w, const std::string& what,
                   const std::string& text) const;
  bool pool_is_live(const std::string& disk, DmCore& dm) const;

  DmCore& dm_;
  peer::PeerTools tools_;
  std::string work_dir_;
  ReferenceLookup reference_;
  std::map<std::string, bool> disk_fill_;  // every disk: created with a non-zero fill?
  std::map<std::string, Watched> watched_;  // metadata disks (named by a thin-pool table)
  std::optional<std::string> problem_;      // the first failure, reported after the step
  uint64_t commits_checked_ = 0, model_comparisons_ = 0;
};

}  // namespace thinsim::harness
