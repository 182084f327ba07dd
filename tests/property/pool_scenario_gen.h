// Random pool scenarios for the property tests: steps in the scenario language (dozens of
// devices, snapshots of anything, partial and whole-block writes, discards, flushes, FUA,
// commits through status and time, data and metadata resizes, metadata snapshots, running
// out of data space, metadata write errors and offline repair).
#pragma once

#include <rapidcheck.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace thinsim::harness::generated {

// One generated step; `text` is scenario-language source.
constexpr unsigned kIds = 40;           // device ids 0..39
// The pool every generated scenario starts with (64 data blocks: small enough to run out).
inline const std::string kPoolCreate = "create pool \"0 8192 thin-pool meta data 128 8\"";
constexpr uint64_t kThinSectors = 4096;  // 32 blocks of 64 KiB per thin device

inline rc::Gen<std::string> gen_io(const char* verb, bool with_pattern) {
  return rc::gen::apply(
      [verb, with_pattern](unsigned id, unsigned first, unsigned len, unsigned seed, bool fua) {
        std::ostringstream s;
        uint64_t start = first % kThinSectors;
        uint64_t n = 1 + len % std::min<uint64_t>(kThinSectors - start, 320);
        s << verb << " t" << id << " " << start << "s " << n << "s";
        if (with_pattern) s << " seed:" << seed << (fua ? " fua" : "");
        return s.str();
      },
      rc::gen::inRange(0u, kIds), rc::gen::arbitrary<unsigned>(), rc::gen::arbitrary<unsigned>(),
      rc::gen::inRange(1u, 1000u), rc::gen::arbitrary<bool>());
}

// `faults`: whether metadata write errors and offline repair may appear. They end in a
// read-only pool, so most scenarios leave them out to keep exercising write mode.
inline rc::Gen<std::string> gen_step(bool faults) {
  const unsigned fault_weight = faults ? 1 : 0;
  auto id = rc::gen::inRange(0u, kIds);
  return rc::gen::weightedOneOf<std::string>({
      {3, rc::gen::map(id, [](unsigned i) { return "message pool 0 \"create_thin " + std::to_string(i) + "\""; })},
      {3, rc::gen::apply([](unsigned a, unsigned b) {
             return "message pool 0 \"create_snap " + std::to_string(a) + " " + std::to_string(b) + "\"";
           }, id, id)},
      {1, rc::gen::map(id, [](unsigned i) { return "message pool 0 \"delete " + std::to_string(i) + "\""; })},
      {3, rc::gen::map(id, [](unsigned i) {
             return "create t" + std::to_string(i) + " \"0 " + std::to_string(kThinSectors) +
                    " thin pool " + std::to_string(i) + "\"";
           })},
      {1, rc::gen::map(id, [](unsigned i) { return "remove t" + std::to_string(i); })},
      {8, gen_io("write", true)},
      {4, gen_io("read", false)},
      {2, gen_io("discard", false)},
      {1, rc::gen::map(id, [](unsigned i) { return "flush t" + std::to_string(i); })},
      {1, rc::gen::just(std::string("status pool"))},
      {1, rc::gen::element<std::string>("sleep 1500ms", "sleep 61s")},
      {1, rc::gen::element<std::string>("message pool 0 \"reserve_metadata_snap\"",
                                        "message pool 0 \"release_metadata_snap\"")},
      {1, rc::gen::map(rc::gen::inRange(0u, 3u), [](unsigned t) {
             return "message pool 0 \"set_transaction_id " + std::to_string(t) + " " +
                    std::to_string(t + 1) + "\"";
           })},
      {1, rc::gen::map(rc::gen::inRange(1u, 4u), [](unsigned k) {
             // Grow (or try to shrink) the data device: a reload and a resume.
             return "reload pool \"0 " + std::to_string(k * 64 * 128) +
                    " thin-pool meta data 128 8\"\nresume pool";
           })},
      {1, rc::gen::map(rc::gen::inRange(0u, 5u), [](unsigned m) {
             // Grow the metadata disk by m * 4 MiB, then resume (build_scenario turns the
             // growth into a size). Shrinking loses whatever metadata lay beyond the new
             // end, which no model can predict; 08-resize-metadata.scn covers the refusal.
             return "suspend pool\nresize meta +" + std::to_string(m * 4) + "\nresume pool";
           })},
      // A metadata write error fails the next commit: abort, needs_check, read-only.
      {fault_weight, rc::gen::just(std::string("fault meta error write count=1"))},
      // Offline repair: the pool goes (once its thin devices have), is checked and the
      // flag cleared, and comes back with its first table.
      {fault_weight, rc::gen::just(std::string("remove pool\ncheck meta --clear-needs-check-flag\n") + kPoolCreate)},
  });
}

inline std::string build_scenario(const std::string& features, const std::vector<std::string>& steps) {
  std::string s = "disk meta 16M\ndisk data 32M\n";
  s += kPoolCreate.substr(0, kPoolCreate.size() - 1) + features + "\"\n";
  unsigned meta_mib = 16;
  const std::string grow = "resize meta +";
  for (std::string st : steps) {
    if (auto at = st.find(grow); at != std::string::npos) {
      const size_t end = st.find('\n', at);
      meta_mib += std::stoul(st.substr(at + grow.size(), end - at - grow.size()));
      st.replace(at, end - at, "resize meta " + std::to_string(meta_mib) + "M");
    }
    s += st + "\n";
  }
  return s;
}

// A quarter of the scenarios may fail metadata writes.
inline rc::Gen<bool> gen_with_faults() {
  return rc::gen::weightedElement<bool>({{3, false}, {1, true}});
}

inline rc::Gen<std::string> gen_features() {
  return rc::gen::element<std::string>("", " 1 skip_block_zeroing", " 1 error_if_no_space",
                                       " 1 no_discard_passdown", " 2 skip_block_zeroing error_if_no_space");
}

}  // namespace thinsim::harness::generated
