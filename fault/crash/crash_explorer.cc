#include "fault/crash/crash_explorer.h"

#include <unistd.h>

#include <cstdio>
#include <set>
#include <unordered_set>

#include "fault/crash/commit_history.h"
#include "fault/crash/crash_oracle.h"
#include "fault/crash/data_history.h"
#include "fault/crash/recovery_workload.h"
#include "fault/crash_image.h"
#include "fault/faulty_disk.h"
#include "harness/model_check.h"
#include "peer/external_command.h"
#include "sim/sim_disk.h"

namespace thinsim::fault {

using Clock = std::chrono::steady_clock;

// One exploration: the run's observer (steps), listener (IO) and the crash-state loop.
class CrashExplorer::Session final : public harness::StepObserver, public sim::SimDiskListener {
 public:
  using Images = std::map<std::string, std::vector<std::byte>>;
  // start_images: disks that begin with these contents instead of their fill (a
  // recovery after a first crash, which `nested` marks: no reference model, outcomes
  // not required to succeed, no third crash).
  Session(const ExploreOptions& o, uint64_t io_total, bool explore, const Images* start_images = nullptr)
      : o_(o), io_total_(io_total), explore_(explore), oracles_(make_crash_oracles()),
        start_images_(start_images), nested_(start_images != nullptr) {}

  ExploreResult run(const harness::Scenario& scenario) {
    start_ = last_progress_ = Clock::now();
    harness::ScenarioRunner runner;
    runner.set_require_success(!nested_);
    runner.dm().set_disk_model([this](const std::string& name, std::unique_ptr<pdata::BlockDevice> media) {
      if (start_images_)
        if (auto img = start_images_->find(name); img != start_images_->end())
          media->write(0, std::span(img->second).first(std::min<size_t>(img->second.size(), media->nr_sectors() * 512)));
      auto it = o_.disk_contracts.find(name);
      auto d = std::make_unique<sim::SimDisk>(name, uint32_t(disks_.size() + 1), std::move(media),
                                              it == o_.disk_contracts.end() ? o_.contract : it->second, clock_);
      d->set_listener(this);
      disks_[name] = d.get();
      return d;
    });
    std::unique_ptr<harness::ModelCheck> model;
    if (o_.check_model && explore_ && !nested_) {
      model = std::make_unique<harness::ModelCheck>(pool::kDefaultNoSpaceTimeoutMs);
      runner.add_observer(*model);
    }
    runner.add_observer(*this);
    for (const auto& [point, after] : o_.fault_points) bugzoo::arm_fault(point, after, 1);
    harness::RunResult r = runner.run(scenario);
    bugzoo::disarm_all_faults();
    if (explore_ && !scripted_crash_) explore_final_points();
    result_.trace = std::move(r.trace);
    if (r.failure) {
      result_.run_failure = r.failure;
      // A crash-state failure stops the run on purpose; only report other causes.
      if (!result_.failures.empty() && r.failure->message.rfind("crash exploration:", 0) == 0)
        result_.run_failure.reset();
    }
    result_.seconds = seconds();
    for (auto& [name, p] : pools_) result_.commits += p.commits.durable_commits();
    report_progress(true);
    return std::move(result_);
  }

  // StepObserver
  void before_step(const harness::Command& cmd, harness::DmCore& dm) override {
    ++step_;
    where_ = cmd.location;
    if (cmd.kind() == harness::CommandKind::disk) {
      const auto& d = cmd.as<harness::DiskCmd>();
      disk_fill_[d.name] = d.fill;
    }
    if (cmd.kind() == harness::CommandKind::fault) {
      const auto& f = cmd.as<harness::FaultCmd>();
      if (f.action != harness::FaultAction::clear) faulted_disks_.insert(f.name);
      if (harness::needs_sim_disk(f.action)) media_faulted_.insert(f.name);
    }
    command_ = harness::to_text(cmd);
    closing_ = cmd.kind() == harness::CommandKind::remove;
    // A scripted power cut ends the exploration: its states are explored as at the end of
    // a run, and what follows (the recovery the scenario scripts) is judged by the
    // scenario's expectations. The histories the oracles use do not span a power cut.
    if (cmd.kind() == harness::CommandKind::crash && explore_ && !scripted_crash_) {
      explore_final_points();
      scripted_crash_ = true;
    }
    for (auto& [name, p] : pools_) {
      p.failures_before_step = metadata_failures(dm, name);
      if (cmd.kind() == harness::CommandKind::check) p.commits.pool_busy();
    }
    auto note_table = [&](const harness::TableLine& t) {
      if (t.target != "thin-pool" || t.args.size() < 2) return;
      PoolTrack& p = pools_[t.args[0]];
      p.table = t;
    };
    if (cmd.kind() == harness::CommandKind::create) note_table(cmd.as<harness::CreateCmd>().table);
    if (cmd.kind() == harness::CommandKind::reload) note_table(cmd.as<harness::ReloadCmd>().table);
  }
  std::optional<std::string> after_step(const harness::Command& cmd, const harness::StepOutcome& out,
                                        harness::DmCore& dm) override {
    // A pool object opened the metadata: from now on it must not commit until in service.
    if (cmd.kind() == harness::CommandKind::create && out.result.err == 0) {
      const harness::TableLine& t = cmd.as<harness::CreateCmd>().table;
      if (t.target == "thin-pool" && !t.args.empty()) pools_[t.args[0]].commits.pool_opened();
    }
    // needs_check lifecycle, in the run: after a metadata IO error the pool leaves write mode.
    for (auto& [meta_name, p] : pools_) {
      if (metadata_failures(dm, meta_name) <= p.failures_before_step) continue;
      for (const std::string& name : dm.mapped_devices()) {
        auto t = dm.live_table(name);
        if (!t || t->target != "thin-pool" || t->args.empty() || t->args[0] != meta_name) continue;
        std::string line;
        if (dm.status(name, true, line).err) continue;
        if (line.find(" rw ") != std::string::npos || line.find(" out_of_data_space ") != std::string::npos)
          add_failure("needs-check", "after a metadata IO error the pool is still in write mode: " + line, 0, {}, "");
      }
    }
    if (stop_ && !result_.failures.empty()) return "crash exploration: " + result_.failures.front().oracle + " failure";
    return std::nullopt;
  }

  // SimDiskListener
  void in_flight(sim::SimDisk& disk, const sim::IoEvent& io) override {
    trace_io(disk, io);
    if (!explore_ || stop_ || scripted_crash_) return;
    PoolTrack* p = pool_of(disk);
    if (!p) return;
    current_ = p;
    if (&disk == meta_disk()) {
      if (!p->started) {
        p->commits.start(disk);  // the image before this, its first write
        p->started = true;
      }
      if (auto v = p->commits.in_flight(disk, io)) add_failure("copy-on-write", *v, io.seq, {}, "");
      // Only closing may skip the commit (dm_pool_metadata_close takes the in-core lock;
      // every other commit path marks the metadata in service first).
      if (const auto& idle = p->commits.idle_commit(); idle && !stop_ && closing_)
        add_failure("idle-commit", *idle, io.seq, {}, "");
    } else {
      p->data.in_flight(disk, io);
    }
    if (!stop_) explore_point(io.seq);
  }
  void completed(sim::SimDisk& disk, const sim::IoEvent& io) override {
    PoolTrack* p = explore_ && !scripted_crash_ ? pool_of(disk) : nullptr;
    if (p && p->started && p->table.args[0] == disk.name()) p->commits.completed(disk, io);
  }

 private:
  struct PoolTrack {
    harness::TableLine table;
    CommitHistory commits;
    DataHistory data;
    bool started = false;
    uint64_t failures_before_step = 0;
  };
  PoolTrack* pool_of(const sim::SimDisk& disk) {
    for (auto& [name, p] : pools_)
      if (p.table.args[0] == disk.name() || p.table.args[1] == disk.name()) return &p;
    return nullptr;
  }
  uint64_t metadata_failures(harness::DmCore& dm, const std::string& meta) const {
    auto* tapped = dynamic_cast<harness::TappedDisk*>(dm.disk(meta));
    auto* faulty = tapped ? dynamic_cast<FaultyDisk*>(&tapped->inner()) : nullptr;
    return faulty ? faulty->failures() : 0;
  }
  sim::SimDisk* find_disk(size_t arg) const {
    if (!current_) return nullptr;
    auto it = disks_.find(current_->table.args[arg]);
    return it == disks_.end() ? nullptr : it->second;
  }
  sim::SimDisk* meta_disk() const { return find_disk(0); }
  sim::SimDisk* data_disk() const { return find_disk(1); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void trace_io(sim::SimDisk& disk, const sim::IoEvent& io) {
    ++io_seen_;
    if (io_trace_.size() >= kMaxTrace) return;
    std::string line = std::to_string(io.seq) + " step " + std::to_string(step_) + " " + disk.name() + " ";
    if (io.kind == sim::IoKind::flush)
      line += "flush";
    else
      line += std::string(io.kind == sim::IoKind::write ? "write" : "discard") + " sector " +
              std::to_string(io.sector) + "+" + std::to_string(io.nr_sectors) + (io.fua ? " fua" : "");
    io_trace_.push_back(std::move(line));
  }

  void report_progress(bool final) {
    if (!o_.progress) return;
    const auto now = Clock::now();
    if (!final && now - last_progress_ < std::chrono::milliseconds(500)) return;
    last_progress_ = now;
    o_.progress({result_.crash_points, result_.states, result_.distinct, result_.failed, io_total_, seconds()});
  }

  // The crash point after the last IO (nothing in flight), for every pool.
  void explore_final_points() {
    for (auto& [name, p] : pools_) {
      if (stop_) break;
      current_ = &p;
      explore_point(clock_.now());
    }
  }

  // All states of one crash point.
  void explore_point(uint64_t seq) {
    sim::SimDisk* meta = meta_disk();
    if (!meta || !current_ || !current_->started) return;
    std::vector<sim::SimDisk*> disks{meta};
    if (sim::SimDisk* d = data_disk(); d && d != meta) disks.push_back(d);
    if (o_.replay) {
      if (o_.replay->seq != seq) return;
      result_.replay_reached = true;
      // A fuzzer's bytes decide the survivors when given; otherwise the recorded choices.
      ReplayChooser recorded(o_.replay->choices);
      std::optional<ByteChooser> from_bytes;
      if (o_.state_bytes) from_bytes.emplace(*o_.state_bytes);
      CrashChooser& chooser = from_bytes ? static_cast<CrashChooser&>(*from_bytes) : recorded;
      CrashPlan plan = CrashPlan::choose(disks, chooser, o_.tear);
      ++result_.states;
      if (o_.replay->second_seq) {
        result_.replay_reached = false;  // until the recovery reaches its IO
        CrashChoice second;
        second.seq = o_.replay->second_seq;
        second.choices = o_.replay->second_choices;
        second_crash(disks, plan, seq, chooser.choices(), &second);
      } else if (auto f = judge(disks, plan)) {
        record_crash_failure(disks, seq, chooser.choices(), plan, *f);
      }
      stop_ = true;
      return;
    }
    ++result_.crash_points;
    const uint64_t n = CrashPlan::state_count(disks, o_.tear);
    auto one = [&](CrashChooser& chooser) {
      CrashPlan plan = CrashPlan::choose(disks, chooser, o_.tear);
      ++result_.states;
      uint64_t key = current_->commits.durable().seq * 0x9e3779b97f4a7c15ull + current_->commits.in_flight_commits().size();
      for (size_t i = 0; i < disks.size(); ++i) key = (key ^ plan.image_hash(i)) * 0xff51afd7ed558ccdull;
      if (!seen_.insert(key).second) return;
      ++result_.distinct;
      bool recoverable = false;
      if (auto f = judge(disks, plan, &recoverable)) {
        record_crash_failure(disks, seq, chooser.choices(), plan, *f);
        return;
      }
      if (o_.peer_sample && result_.distinct % o_.peer_sample == 0) peer_check(disks, plan);
      if (recoverable && o_.second_crash && !nested_ && ++recoverable_seen_ % o_.second_crash == 0)
        second_crash(disks, plan, seq, chooser.choices(), nullptr);
      report_progress(false);
    };
    if (n <= o_.exhaustive_bound) {
      ExhaustiveChooser chooser;
      do {
        one(chooser);
      } while (!stop_ && chooser.next());
    } else {
      uint64_t s = o_.seed ^ (seq * 0xd1b54a32d192ed03ull);
      SeededChooser chooser(splitmix64(s));
      for (uint32_t i = 0; i < o_.samples && !stop_; ++i) {
        chooser.start_state();
        one(chooser);
      }
    }
  }

  struct Verdict {
    std::string oracle, message, recovered_xml, expected_xml;
  };

  // recoverable: set when the state passed and a pool would open it read-write (the
  // check passed, no needs_check): a recovery can run on it.
  // Once a disk of the pool had a media fault (or a cache that ignored FLUSH), the pool
  // may have read what the fault left and built on it, so no history the oracles hold
  // describes the state: from then on a state gets the robustness check of judge_faulty
  // only, even after the fault is cleared.
  std::optional<Verdict> judge(const std::vector<sim::SimDisk*>& disks, const CrashPlan& plan,
                               bool* recoverable = nullptr) {
    for (sim::SimDisk* d : disks)
      if (media_faulted_.count(d->name()) || d->has_faults()) return judge_faulty(disks, plan);
    CrashImage meta(*disks[0], plan.overlay(0));
    std::optional<CrashImage> data;
    if (disks.size() > 1) data.emplace(*disks[1], plan.overlay(1));
    MetadataView view = read_metadata_view(meta, {});
    CrashContext ctx{meta, data ? &*data : nullptr, *disks[0], disks.size() > 1 ? disks[1] : nullptr,
                     view, current_->commits, current_->data, current_->table, nullptr};
    ctx.data_leaks_allowed = disks.size() > 1 && faulted_disks_.count(disks[1]->name());
    for (auto& oracle : oracles_) {
      std::optional<std::string> problem;
      try {
        problem = oracle->judge(ctx);
      } catch (const std::exception& e) {
        problem = std::string("the oracle failed on this state: ") + e.what();
      }
      if (problem) {
        Verdict v{oracle->name(), *problem, {}, current_->commits.durable().xml};
        read_metadata_view(meta, {}, &v.recovered_xml);
        return v;
      }
    }
    if (recoverable) *recoverable = !ctx.refused && !view.needs_check && (view.unformatted || view.check_passed);
    return std::nullopt;
  }

  // The state as the faulty media leave it: the checker must read it without failing
  // itself, and metadata it passes must open in the model (the structure oracle's last
  // question). Damage the checker reports is what the kernel would refuse: not a failure.
  std::optional<Verdict> judge_faulty(const std::vector<sim::SimDisk*>& disks, const CrashPlan& plan) {
    CrashImage meta(*disks[0], plan.overlay(0), true);
    std::optional<CrashImage> data;
    if (disks.size() > 1) data.emplace(*disks[1], plan.overlay(1), true);
    std::optional<std::string> problem;
    try {
      MetadataView view = read_metadata_view(meta, {});
      if (!view.check_passed) return std::nullopt;
      CrashContext ctx{meta, data ? &*data : nullptr, *disks[0], disks.size() > 1 ? disks[1] : nullptr,
                       view, current_->commits, current_->data, current_->table, nullptr};
      ctx.data_leaks_allowed = true;
      problem = make_structure_oracle()->judge(ctx);
    } catch (const std::exception& e) {
      problem = std::string("reading the faulty state failed: ") + e.what();
    }
    if (!problem) return std::nullopt;
    Verdict v{"media-fault", *problem + " (on the images with their media faults)", {},
              current_->commits.durable().xml};
    return v;
  }

  // A second power cut while the host recovers from this state: the recovery workload
  // over its images, every IO of it explored by a nested session with the same oracles
  // (its commit history starts from this state). `replay`: rebuild one second crash.
  void second_crash(const std::vector<sim::SimDisk*>& disks, const CrashPlan& plan, uint64_t seq,
                    const std::vector<uint32_t>& choices, const CrashChoice* replay) {
    Images images;
    CrashImage meta(*disks[0], plan.overlay(0));
    std::vector<std::byte>& img = images[disks[0]->name()];
    img.resize(meta.nr_sectors() * 512);
    meta.read(0, img);
    std::vector<RecoveryDisk> rd;
    for (sim::SimDisk* d : disks) rd.push_back({d->name(), d->nr_sectors(), disk_fill_[d->name()]});
    uint32_t block_sectors = 128;
    if (current_->table.args.size() > 2) block_sectors = uint32_t(std::stoul(current_->table.args[2]));
    const harness::Scenario workload = recovery_scenario(rd, current_->table, block_sectors);

    ExploreOptions no = o_;
    no.second_crash = 0;
    no.check_model = false;
    no.stop_at_first_failure = true;
    no.peer_sample = 0;
    no.progress = nullptr;
    no.fault_points.clear();
    no.replay.reset();
    if (replay) no.replay = *replay;
    if (o_.recovery_contract) {
      no.contract = *o_.recovery_contract;
      no.disk_contracts.clear();
    }
    Session nested(no, 0, true, &images);
    ExploreResult r = nested.run(workload);
    ++result_.second_crash_explorations;
    result_.second_crash_states += r.states;
    if (replay) result_.replay_reached = r.replay_reached;
    if (r.failures.empty()) return;
    CrashFailure f = std::move(r.failures.front());
    f.second_seq = f.seq;
    f.second_choices = std::move(f.choices);
    f.second_plan = std::move(f.plan);
    f.message = "after a second crash at IO " + std::to_string(f.second_seq) + " of the recovery (" +
                harness::to_string(f.where) + ": " + f.command + "): " + f.message;
    f.seq = seq;
    f.choices = choices;
    f.plan = plan.describe(disks);
    f.recovery_scenario = harness::to_text(workload);
    std::vector<std::string> trace = io_trace_;
    trace.push_back("--- power cut at IO " + std::to_string(seq) + "; the recovery's IO follows ---");
    trace.insert(trace.end(), f.io_trace.begin(), f.io_trace.end());
    f.io_trace = std::move(trace);
    push_failure(std::move(f), /*keep_io_trace=*/true);
  }

  // Survivor-set minimisation: drop each kept write in turn while the same oracle fails.
  std::vector<uint32_t> minimise(const std::vector<sim::SimDisk*>& disks, std::vector<uint32_t> choices,
                                 const std::string& oracle) {
    for (size_t i = 0; i < choices.size(); ++i) {
      if (choices[i] == 0) continue;
      auto trial = choices;
      trial[i] = 0;
      ReplayChooser chooser(trial);
      CrashPlan plan = CrashPlan::choose(disks, chooser, o_.tear);
      auto v = judge(disks, plan);
      if (v && v->oracle == oracle) choices = chooser.choices();
    }
    return choices;
  }

  void record_crash_failure(const std::vector<sim::SimDisk*>& disks, uint64_t seq,
                            std::vector<uint32_t> choices, const CrashPlan& first_plan, const Verdict& v) {
    CrashFailure f;
    f.survivors_before_minimising = first_plan.survivors();
    if (o_.minimise && !o_.replay) choices = minimise(disks, choices, v.oracle);
    ReplayChooser chooser(choices);
    CrashPlan plan = CrashPlan::choose(disks, chooser, o_.tear);
    Verdict final_v = judge(disks, plan).value_or(v);
    f.oracle = final_v.oracle;
    f.message = final_v.message;
    f.recovered_xml = final_v.recovered_xml;
    f.expected_xml = final_v.expected_xml;
    f.choices = chooser.choices();
    f.plan = plan.describe(disks);
    f.survivors = plan.survivors();
    f.seq = seq;
    capture_images(f, disks, plan);
    push_failure(std::move(f));
  }

  void capture_images(CrashFailure& f, const std::vector<sim::SimDisk*>& disks, const CrashPlan& plan) {
    CrashImage meta(*disks[0], plan.overlay(0));
    f.metadata_image.resize(meta.nr_sectors() * 512);
    meta.read(0, f.metadata_image);
    if (disks.size() < 2) return;
    CrashImage data(*disks[1], plan.overlay(1));
    f.data_sectors = data.nr_sectors();
    // Only what was ever written differs from the disk's fill: the data history's sectors.
    std::vector<uint64_t> sectors;
    current_->data.for_each_touched(0, data.nr_sectors(), [&](uint64_t s) { sectors.push_back(s); });
    for (size_t i = 0; i < sectors.size();) {
      size_t j = i + 1;
      while (j < sectors.size() && sectors[j] == sectors[j - 1] + 1 && j - i < 2048) ++j;
      std::vector<std::byte> bytes((j - i) * 512);
      data.read(sectors[i], bytes);
      f.data_extents.emplace_back(sectors[i], std::move(bytes));
      i = j;
    }
  }

  void add_failure(const std::string& oracle, const std::string& message, uint64_t seq,
                   std::vector<uint32_t> choices, const std::string& plan) {
    CrashFailure f;
    f.oracle = oracle;
    f.message = message;
    f.seq = seq;
    f.choices = std::move(choices);
    f.plan = plan;
    if (sim::SimDisk* meta = meta_disk()) {
      // Not a crash state: the metadata as the run sees it.
      std::vector<std::byte> visible(meta->nr_sectors() * 512);
      meta->read(0, visible);
      f.metadata_image = std::move(visible);
    }
    push_failure(std::move(f));
  }

  void push_failure(CrashFailure f, bool keep_io_trace = false) {
    f.step = step_;
    f.where = where_;
    f.command = command_;
    if (!keep_io_trace) f.io_trace = io_trace_;
    f.seconds_to_detection = seconds();
    ++result_.failed;
    ++result_.failed_by_oracle[f.oracle];
    if (result_.failures.size() < 3) result_.failures.push_back(std::move(f));
    if (o_.stop_at_first_failure) stop_ = true;
  }

  // The real thin_check on a sampled crash image: its verdict must be ours.
  void peer_check(const std::vector<sim::SimDisk*>& disks, const CrashPlan& plan) {
    if (o_.thin_check.empty()) return;
    CrashImage meta(*disks[0], plan.overlay(0));
    MetadataView view = read_metadata_view(meta, {});
    if (view.unformatted) return;
    char path[] = "/tmp/thinsim-crash-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) return;
    std::vector<std::byte> block(1 << 20);
    bool ok = true;
    for (uint64_t s = 0; s < meta.nr_sectors() && ok; s += block.size() / 512) {
      const uint64_t n = std::min<uint64_t>(block.size() / 512, meta.nr_sectors() - s);
      meta.read(s, std::span(block).first(n * 512));
      ok = ::pwrite(fd, block.data(), n * 512, off_t(s * 512)) == ssize_t(n * 512);
    }
    ::close(fd);
    if (ok) {
      peer::CommandResult r = peer::run_command({o_.thin_check, "-q", path});
      ++result_.peer_checked;
      if (r.ok() != view.check_passed && result_.peer_disagreements.size() < 10)
        result_.peer_disagreements.push_back("step " + std::to_string(step_) + ": thin_check " + r.status() +
                                             ", thinsim " + (view.check_passed ? "passed" : "failed: " + view.check_problem));
    }
    ::unlink(path);
  }

  static constexpr size_t kMaxTrace = 200000;
  const ExploreOptions& o_;
  uint64_t io_total_;
  bool explore_;
  std::vector<std::unique_ptr<CrashOracle>> oracles_;
  sim::IoClock clock_;
  std::map<std::string, sim::SimDisk*> disks_;
  std::map<std::string, PoolTrack> pools_;  // by metadata disk
  PoolTrack* current_ = nullptr;            // the pool the IO in flight belongs to
  std::unordered_set<uint64_t> seen_;
  const Images* start_images_;
  bool nested_;
  uint64_t recoverable_seen_ = 0;
  std::map<std::string, harness::ContentPattern> disk_fill_;
  ExploreResult result_;
  bool stop_ = false;
  size_t step_ = 0;
  bool closing_ = false;  // the step removes a device
  bool scripted_crash_ = false;  // a `crash` command has run
  std::set<std::string> faulted_disks_;  // disks a fault command touched in this run
  std::set<std::string> media_faulted_;  // of those, with a media fault or ignore-flush
  harness::SourceLocation where_;
  std::string command_;
  uint64_t io_seen_ = 0;
  std::vector<std::string> io_trace_;
  Clock::time_point start_, last_progress_;

 public:
  uint64_t io_seen() const { return io_seen_; }
};

CrashExplorer::CrashExplorer(ExploreOptions options) : options_(std::move(options)) {}
CrashExplorer::~CrashExplorer() = default;

uint64_t CrashExplorer::count_io(const harness::Scenario& scenario, const ExploreOptions& options) {
  Session s(options, 0, false);
  s.run(scenario);
  return s.io_seen();
}

ExploreResult CrashExplorer::run(const harness::Scenario& scenario) {
  const uint64_t total = options_.progress && !options_.replay ? count_io(scenario, options_) : 0;
  Session s(options_, total, true);
  ExploreResult r = s.run(scenario);
  return r;
}

}  // namespace thinsim::fault
