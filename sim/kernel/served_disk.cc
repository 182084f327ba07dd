#include "sim/kernel/served_disk.h"

#include <sstream>
#include <stdexcept>

#include "model/pdata/error.h"
#include "sim/kernel/decimal.h"

namespace thinsim::kernel {

namespace {

// Write-through: the slice is the media, as the model's disk is after its teardown.
sim::DiskContract write_through() {
  sim::DiskContract c;
  c.volatile_cache = false;
  return c;
}

std::unique_ptr<sim::SimDisk> make_sim(const std::string& name, std::unique_ptr<pdata::BlockDevice> media,
                                       sim::IoClock& clock, sim::SimDisk*& out) {
  auto d = std::make_unique<sim::SimDisk>(name, 1, std::move(media), write_through(), clock);
  out = d.get();
  return d;
}

uint64_t number(std::istringstream& in, const std::string& line, const char* what) {
  std::string w;
  if (!(in >> w)) throw std::invalid_argument("\"" + line + "\": no " + what);
  const std::optional<uint64_t> v = parse_decimal(w);
  if (!v) throw std::invalid_argument("\"" + line + "\": bad " + what + " \"" + w + "\"");
  return *v;
}

}  // namespace

ServedDisk::ServedDisk(std::string name, std::unique_ptr<pdata::BlockDevice> media)
    : faulty_(name, make_sim(name, std::move(media), clock_, media_faults_)) {}

template <class Fn>
int ServedDisk::guarded(Fn&& io) {
  try {
    io();
    return 0;
  } catch (const pdata::IoError& e) {
    return e.err() ? e.err() : EIO;
  } catch (const std::exception&) {
    return EIO;  // a request past the end, or the slice's own failure
  }
}

int ServedDisk::read(uint64_t sector, std::span<std::byte> buf) {
  return guarded([&] { faulty_.read(sector, buf); });
}

int ServedDisk::write(uint64_t sector, std::span<const std::byte> buf, bool fua) {
  pdata::WriteFlags flags;
  flags.fua = fua;
  return guarded([&] { faulty_.write(sector, buf, flags); });
}

int ServedDisk::flush() {
  return guarded([&] { faulty_.flush(); });
}

int ServedDisk::discard(uint64_t sector, uint64_t nr_sectors) {
  return guarded([&] { faulty_.discard(sector, nr_sectors); });
}

void ServedDisk::apply(const std::string& line) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  const uint64_t size = nr_sectors();
  auto outside = [&](uint64_t end) {
    if (end > size)
      throw std::invalid_argument("\"" + line + "\": the disk has " + std::to_string(size) + " sectors");
  };
  if (verb == "error") {
    std::string ops_text;
    if (!(in >> ops_text)) throw std::invalid_argument("\"" + line + "\": no operations");
    fault::IoFaultRule rule;
    std::istringstream ops(ops_text);
    for (std::string op; std::getline(ops, op, ',');) {
      const unsigned bit = fault::op_from_string(op);
      if (!bit) throw std::invalid_argument("\"" + line + "\": unknown operation \"" + op + "\"");
      rule.ops |= bit;
    }
    rule.after = number(in, line, "after");
    std::string count;
    in >> count;
    if (count != "-") {
      std::istringstream c(count);
      rule.count = number(c, line, "count");
    }
    rule.error = int(number(in, line, "errno"));
    faulty_.set_rule(rule);
  } else if (verb == "latent") {
    const uint64_t sector = number(in, line, "sector"), count = number(in, line, "count");
    outside(sector + count);
    for (uint64_t s = sector; s < sector + count; ++s) media_faults_->add_latent_error(s);
  } else if (verb == "lose") {
    media_faults_->lose_next_writes(uint32_t(number(in, line, "count")));
  } else if (verb == "misdirect") {
    const uint64_t count = number(in, line, "count");
    std::string delta;
    if (!(in >> delta)) throw std::invalid_argument("\"" + line + "\": no offset");
    int64_t d = 0;
    try {
      size_t used = 0;
      d = std::stoll(delta, &used, 10);
      if (used != delta.size()) throw std::invalid_argument(delta);
    } catch (const std::exception&) {
      throw std::invalid_argument("\"" + line + "\": bad offset \"" + delta + "\"");
    }
    media_faults_->misdirect_next_writes(uint32_t(count), d);
  } else if (verb == "flip") {
    const uint64_t sector = number(in, line, "sector"), bit = number(in, line, "bit");
    outside(sector + 1);
    if (bit >= 4096) throw std::invalid_argument("\"" + line + "\": bit beyond the sector");
    media_faults_->flip_bit(sector, uint32_t(bit));
  } else if (verb == "clear") {
    faulty_.set_rule(std::nullopt);
    media_faults_->clear_faults();
  } else {
    throw std::invalid_argument("\"" + line + "\": unknown fault \"" + verb + "\"");
  }
  std::string extra;
  if (in >> extra) throw std::invalid_argument("\"" + line + "\": unexpected \"" + extra + "\"");
}

void ServedDisk::settle() {
  media_faults_->write_overlay_to_media();
  media_faults_->media().flush();
}

}  // namespace thinsim::kernel
