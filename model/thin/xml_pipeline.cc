#include "model/thin/xml_pipeline.h"

#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace thinsim::thin {
namespace {

struct Event {
  enum class Kind : uint8_t { begin_superblock, end_superblock, begin_device, end_device, mapping };
  Kind kind;
  uint64_t offset;  // byte offset of the element in the input
  MappingRun run;
  DeviceInfo device;
};

struct Batch {
  std::vector<Event> events;
  std::optional<SuperblockInfo> superblock;  // for the one begin_superblock event
  bool last = false;
  std::exception_ptr error;  // the reader's own failure, after the events before it
};

// A bounded single-producer, single-consumer queue of batches that either side can
// cancel.
class BatchQueue {
 public:
  static constexpr size_t kCapacity = 4;

  // False if the queue was cancelled.
  bool push(Batch&& b) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return cancelled_ || batches_.size() < kCapacity; });
    if (cancelled_) return false;
    batches_.push_back(std::move(b));
    not_empty_.notify_one();
    return true;
  }
  Batch pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !batches_.empty(); });
    Batch b = std::move(batches_.front());
    batches_.pop_front();
    not_full_.notify_one();
    return b;
  }
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch> batches_;
  bool cancelled_ = false;
};

struct Cancelled {};

// The worker's visitor: records events with their offsets and ships them in batches.
class EventRecorder final : public MetadataVisitor {
 public:
  static constexpr size_t kBatchEvents = 8192;

  explicit EventRecorder(BatchQueue& queue) : queue_(queue) { batch_.events.reserve(kBatchEvents); }

  uint64_t offset = 0;  // written by the reader before each event

  void begin_superblock(const SuperblockInfo& sb) override {
    batch_.superblock = sb;
    add(Event{Event::Kind::begin_superblock, offset, {}, {}});
  }
  void end_superblock() override { add(Event{Event::Kind::end_superblock, offset, {}, {}}); }
  void begin_device(const DeviceInfo& dev) override {
    add(Event{Event::Kind::begin_device, offset, {}, dev});
  }
  void end_device() override { add(Event{Event::Kind::end_device, offset, {}, {}}); }
  void mapping(const MappingRun& run) override { add(Event{Event::Kind::mapping, offset, run, {}}); }

  // Sends what is left, with the reader's error if it failed.
  void finish(std::exception_ptr error) {
    batch_.last = true;
    batch_.error = error;
    queue_.push(std::move(batch_));
  }

 private:
  void add(Event e) {
    batch_.events.push_back(e);
    // A batch holding the superblock goes at once, so its string is never copied again.
    if (batch_.events.size() >= kBatchEvents || batch_.superblock) ship();
  }
  void ship() {
    if (!queue_.push(std::move(batch_))) throw Cancelled{};
    batch_ = Batch{};
    batch_.events.reserve(kBatchEvents);
  }

  BatchQueue& queue_;
  Batch batch_;
};

// Line and column (1-based) of a byte offset, by scanning the file once.
std::pair<uint64_t, uint64_t> locate(const std::string& path, uint64_t offset) {
  uint64_t line = 1, column = 1;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {0, 0};
  std::vector<char> buf(1 << 16);
  uint64_t pos = 0;
  while (pos < offset) {
    ssize_t n = ::read(fd, buf.data(), std::min<uint64_t>(buf.size(), offset - pos));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[static_cast<size_t>(i)] == '\n') {
        line++;
        column = 1;
      } else {
        column++;
      }
    }
    pos += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return {line, column};
}

void apply(const Event& e, const Batch& b, MetadataVisitor& v) {
  switch (e.kind) {
    case Event::Kind::begin_superblock: v.begin_superblock(*b.superblock); break;
    case Event::Kind::end_superblock: v.end_superblock(); break;
    case Event::Kind::begin_device: v.begin_device(e.device); break;
    case Event::Kind::end_device: v.end_device(); break;
    case Event::Kind::mapping: v.mapping(e.run); break;
  }
}

}  // namespace

void read_thin_xml_pipelined(const std::string& path, MetadataVisitor& visitor,
                             const XmlReadOptions& options) {
  BatchQueue queue;
  EventRecorder recorder(queue);
  XmlReadOptions worker_options = options;
  worker_options.event_offset = &recorder.offset;
  // The worker's own errors are located by the reader; ours are located here.
  worker_options.locate_visitor_errors = true;

  std::thread worker([&] {
    std::exception_ptr error;
    try {
      read_thin_xml(path, recorder, worker_options);
    } catch (...) {
      error = std::current_exception();
    }
    try {
      recorder.finish(error);
    } catch (...) {
    }
  });
  struct Joiner {
    std::thread& t;
    BatchQueue& q;
    ~Joiner() {
      q.cancel();
      t.join();
    }
  } joiner{worker, queue};

  for (;;) {
    Batch b = queue.pop();
    for (const Event& e : b.events) {
      try {
        apply(e, b, visitor);
      } catch (const std::exception& ex) {
        // Stop the worker first: it may be blocked on a full queue.
        queue.cancel();
        if (!options.locate_visitor_errors) throw;
        auto [line, column] = locate(path, e.offset);
        std::throw_with_nested(XmlError(path, line, column, ex.what()));
      }
    }
    if (b.last) {
      if (b.error) std::rethrow_exception(b.error);
      return;
    }
  }
}

}  // namespace thinsim::thin
