// Tests for the XML layer: XmlWriter (thin_dump 0.9.0 format), RunCoalescer and the streaming reader.
//
// The literal expected strings below were produced by the real thin_dump 0.9.0 (Debian 12 package
// thin-provisioning-tools 0.9.0-2) from metadata written by its thin_restore; the ThinDumpOracle
// tests repeat that comparison live when the tools are installed.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "model/thin/metadata_visitor.h"
#include "model/thin/run_coalescer.h"
#include "model/thin/xml_reader.h"
#include "model/thin/xml_writer.h"

namespace thinsim::thin {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// ------------------------------------------------------------------------------------------------
// Helpers

// Records every event as one line of text, which makes comparisons and failure output readable.
class Recorder : public MetadataVisitor {
 public:
  void begin_superblock(const SuperblockInfo& sb) override {
    std::ostringstream o;
    o << "superblock uuid=" << sb.uuid << " time=" << sb.time << " transaction=" << sb.transaction
      << " flags=" << (sb.flags ? std::to_string(*sb.flags) : "-")
      << " version=" << (sb.version ? std::to_string(*sb.version) : "-") << " dbs=" << sb.data_block_size
      << " nr=" << sb.nr_data_blocks
      << " snap=" << (sb.metadata_snap ? std::to_string(*sb.metadata_snap) : "-");
    events.push_back(o.str());
  }
  void end_superblock() override { events.push_back("/superblock"); }
  void begin_device(const DeviceInfo& d) override {
    std::ostringstream o;
    o << "device " << d.dev_id << " mapped=" << d.mapped_blocks << " trans=" << d.transaction
      << " ctime=" << d.creation_time << " stime=" << d.snap_time;
    events.push_back(o.str());
  }
  void end_device() override { events.push_back("/device"); }
  void mapping(const MappingRun& r) override {
    events.push_back("map " + std::to_string(r.origin_begin) + " " + std::to_string(r.data_begin) + " " +
                     std::to_string(r.length) + " " + std::to_string(r.time));
  }
  std::vector<std::string> events;
};

// Forwards events to another visitor, splitting every run into single blocks and re-coalescing them.
class Recoalescer : public MetadataVisitor {
 public:
  explicit Recoalescer(MetadataVisitor& out) : out_(out), coalescer_(out) {}
  void begin_superblock(const SuperblockInfo& sb) override { out_.begin_superblock(sb); }
  void end_superblock() override { out_.end_superblock(); }
  void begin_device(const DeviceInfo& d) override { out_.begin_device(d); }
  void end_device() override {
    coalescer_.flush();
    out_.end_device();
  }
  void mapping(const MappingRun& r) override {
    for (uint64_t i = 0; i < r.length; ++i)
      coalescer_.add(r.origin_begin + i, r.data_begin + i, r.time);
  }

 private:
  MetadataVisitor& out_;
  RunCoalescer coalescer_;
};

std::vector<std::string> read_events(const std::string& xml, XmlReadOptions opts = {}) {
  Recorder rec;
  read_thin_xml_string(xml, rec, "t.xml", opts);
  return rec.events;
}

std::string rewrite(const std::string& xml) {
  std::string out;
  XmlWriter w(out);
  read_thin_xml_string(xml, w, "t.xml");
  return out;
}

// Expects read_thin_xml_string to fail with an XmlError at line:column whose message contains `what`.
void expect_error(const std::string& xml, uint64_t line, uint64_t column, const std::string& what,
                  XmlReadOptions opts = {}) {
  Recorder rec;
  try {
    read_thin_xml_string(xml, rec, "t.xml", opts);
    ADD_FAILURE() << "no error for:\n" << xml;
  } catch (const XmlError& e) {
    EXPECT_EQ(e.file(), "t.xml");
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_EQ(e.column(), column) << e.what();
    EXPECT_NE(e.message().find(what), std::string::npos) << "message: " << e.what() << "\nexpected: " << what;
    EXPECT_EQ(std::string(e.what()),
              "t.xml:" + std::to_string(line) + ":" + std::to_string(column) + ": " + e.message());
  }
  // A failed document never reaches end_superblock.
  for (const auto& ev : rec.events) EXPECT_NE(ev, "/superblock");
}

const char kHeader[] =
    "<superblock uuid=\"\" time=\"1\" transaction=\"2\" data_block_size=\"128\" nr_data_blocks=\"1000\">\n";
const char kDevice[] =
    "  <device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n";

// A complete document with `body` inside one device (line 3 onwards).
std::string in_device(const std::string& body) {
  return std::string(kHeader) + kDevice + body + "  </device>\n</superblock>\n";
}

std::string temp_path(const std::string& stem) {
  static int counter = 0;
  return ::testing::TempDir() + "xml_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
         "_" + stem;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// ------------------------------------------------------------------------------------------------
// XmlWriter

// thin_dump 0.9.0 output for a pool restored from an XML with devices 1 and 0 (in that order),
// a wrong mapped_blocks and no flags/version attributes.
const char kRealDump[] =
    "<superblock uuid=\"\" time=\"3\" transaction=\"7\" flags=\"0\" version=\"1\" data_block_size=\"128\" "
    "nr_data_blocks=\"1000\">\n"
    "  <device dev_id=\"0\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
    "  </device>\n"
    "  <device dev_id=\"1\" mapped_blocks=\"5\" transaction=\"0\" creation_time=\"0\" snap_time=\"2\">\n"
    "    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"3\" time=\"0\"/>\n"
    "    <single_mapping origin_block=\"3\" data_block=\"13\" time=\"1\"/>\n"
    "    <single_mapping origin_block=\"5\" data_block=\"14\" time=\"1\"/>\n"
    "  </device>\n"
    "</superblock>\n";

TEST(XmlWriter, MatchesRealThinDumpOutput) {
  std::string out;
  {
    XmlWriter w(out);
    SuperblockInfo sb;
    sb.time = 3;
    sb.transaction = 7;
    sb.data_block_size = 128;
    sb.nr_data_blocks = 1000;
    w.begin_superblock(sb);
    w.begin_device(DeviceInfo{0, 0, 0, 0, 0});
    w.end_device();
    w.begin_device(DeviceInfo{1, 5, 0, 0, 2});
    w.mapping(MappingRun{0, 10, 3, 0});
    w.mapping(MappingRun{3, 13, 1, 1});
    w.mapping(MappingRun{5, 14, 1, 1});
    w.end_device();
    w.end_superblock();
  }
  EXPECT_EQ(out, kRealDump);
}

TEST(XmlWriter, FlagsVersionAndMetadataSnap) {
  // Real thin_dump 0.9.0 output after restoring flags="5" version="7" (and a metadata_snap, which
  // thin_dump never prints).
  std::string out;
  XmlWriter w(out);
  SuperblockInfo sb;
  sb.time = 1;
  sb.transaction = 1;
  sb.flags = 5;
  sb.version = 7;
  sb.data_block_size = 128;
  sb.nr_data_blocks = 100;
  w.begin_superblock(sb);
  w.end_superblock();
  EXPECT_EQ(out,
            "<superblock uuid=\"\" time=\"1\" transaction=\"1\" flags=\"5\" version=\"7\" data_block_size=\"128\" "
            "nr_data_blocks=\"100\">\n</superblock>\n");

  // metadata_snap goes last, after nr_data_blocks (0.9.0 xml_format.cc).
  std::string out2;
  XmlWriter w2(out2);
  sb.flags.reset();
  sb.version = 2;
  sb.metadata_snap = 12;
  w2.begin_superblock(sb);
  w2.end_superblock();
  EXPECT_EQ(out2,
            "<superblock uuid=\"\" time=\"1\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"128\" "
            "nr_data_blocks=\"100\" metadata_snap=\"12\">\n</superblock>\n");
}

TEST(XmlWriter, ExtremeValues) {
  std::string out;
  XmlWriter w(out);
  SuperblockInfo sb;
  sb.uuid = "a&b<c>\"d\"";
  sb.time = 4294967295u;
  sb.transaction = kU64Max;
  sb.flags = 4294967295u;
  sb.version = 0;
  sb.data_block_size = 4294967295u;
  sb.nr_data_blocks = kU64Max;
  w.begin_superblock(sb);
  w.begin_device(DeviceInfo{kU64Max, kU64Max, kU64Max, kU64Max, kU64Max});
  w.mapping(MappingRun{kU64Max, kU64Max, 1, 4294967295u});
  w.mapping(MappingRun{0, 0, kU64Max, 0});
  w.end_device();
  w.end_superblock();
  EXPECT_EQ(out,
            "<superblock uuid=\"a&amp;b&lt;c&gt;&quot;d&quot;\" time=\"4294967295\" transaction=\"18446744073709551615\" "
            "flags=\"4294967295\" version=\"0\" data_block_size=\"4294967295\" "
            "nr_data_blocks=\"18446744073709551615\">\n"
            "  <device dev_id=\"18446744073709551615\" mapped_blocks=\"18446744073709551615\" "
            "transaction=\"18446744073709551615\" creation_time=\"18446744073709551615\" "
            "snap_time=\"18446744073709551615\">\n"
            "    <single_mapping origin_block=\"18446744073709551615\" data_block=\"18446744073709551615\" "
            "time=\"4294967295\"/>\n"
            "    <range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"18446744073709551615\" time=\"0\"/>\n"
            "  </device>\n"
            "</superblock>\n");
}

TEST(XmlWriter, RejectsMisuse) {
  std::string out;
  XmlWriter w(out);
  EXPECT_THROW(w.begin_device(DeviceInfo{}), std::logic_error);
  EXPECT_THROW(w.end_superblock(), std::logic_error);
  w.begin_superblock(SuperblockInfo{});
  EXPECT_THROW(w.begin_superblock(SuperblockInfo{}), std::logic_error);
  EXPECT_THROW(w.mapping(MappingRun{0, 0, 1, 0}), std::logic_error);
  EXPECT_THROW(w.end_device(), std::logic_error);
  w.begin_device(DeviceInfo{});
  EXPECT_THROW(w.begin_device(DeviceInfo{}), std::logic_error);
  EXPECT_THROW(w.end_superblock(), std::logic_error);
  EXPECT_THROW(w.mapping(MappingRun{0, 0, 0, 0}), std::logic_error);
}

// Writes the same long document through every sink and buffer size; all must agree.
void write_many(XmlWriter& w, int devices, int runs) {
  SuperblockInfo sb;
  sb.data_block_size = 128;
  sb.nr_data_blocks = 1 << 30;
  w.begin_superblock(sb);
  for (int d = 0; d < devices; ++d) {
    w.begin_device(DeviceInfo{static_cast<uint64_t>(d), static_cast<uint64_t>(runs), 0, 0, 0});
    for (int i = 0; i < runs; ++i)
      w.mapping(MappingRun{static_cast<uint64_t>(i) * 10, static_cast<uint64_t>(i) * 7 + 1000000007ull,
                           static_cast<uint64_t>(i % 5 + 1), static_cast<uint32_t>(i % 3)});
    w.end_device();
  }
  w.end_superblock();
}

TEST(XmlWriter, SinksAndBufferSizesAgree) {
  std::string reference;
  {
    XmlWriter w(reference);
    write_many(w, 3, 5000);
  }
  ASSERT_GT(reference.size(), 3u * 5000u * 50u);

  for (std::size_t bufsize : {std::size_t{1}, std::size_t{4096}, std::size_t{5000}, XmlWriter::kDefaultBufferSize}) {
    std::string path = temp_path("fd.xml");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    {
      XmlWriter w(fd, path, bufsize);
      write_many(w, 3, 5000);
      EXPECT_EQ(w.bytes_written(), reference.size());
    }
    ::close(fd);
    EXPECT_EQ(slurp(path), reference) << "fd, buffer " << bufsize;
    std::remove(path.c_str());

    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    {
      XmlWriter w(f, path, bufsize);
      write_many(w, 3, 5000);
    }
    std::fclose(f);
    EXPECT_EQ(slurp(path), reference) << "FILE*, buffer " << bufsize;
    std::remove(path.c_str());
  }
}

TEST(XmlWriter, WriteErrorsThrowWithErrnoText) {
  int fd = ::open("/dev/full", O_WRONLY);
  if (fd < 0) GTEST_SKIP() << "/dev/full not available";
  {
    XmlWriter w(fd, "/dev/full", 4096);
    try {
      write_many(w, 1, 1000);
      ADD_FAILURE() << "no error writing to /dev/full";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
    }
  }  // the destructor's flush fails again, silently
  ::close(fd);

  std::FILE* f = std::fopen("/dev/full", "wb");
  ASSERT_NE(f, nullptr);
  {
    XmlWriter w(f, "full-stream");
    SuperblockInfo sb;
    w.begin_superblock(sb);
    try {
      w.end_superblock();  // flushes
      ADD_FAILURE() << "no error writing to /dev/full";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("full-stream"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
    }
  }
  std::fclose(f);

  // A closed descriptor: EBADF.
  XmlWriter bad(-1, "nowhere");
  bad.begin_superblock(SuperblockInfo{});
  try {
    bad.flush();
    ADD_FAILURE() << "no error writing to fd -1";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Bad file descriptor"), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------------------------------------------
// RunCoalescer

struct Single {
  uint64_t origin, data;
  uint32_t time;
};

// The rule of thin_dump 0.9.0's mapping_emit_visitor, written independently as the reference.
std::vector<std::string> reference_runs(const std::vector<Single>& in) {
  std::vector<std::string> out;
  bool open = false;
  uint64_t o = 0, d = 0, len = 0;
  uint32_t t = 0;
  auto close = [&] {
    if (open) out.push_back("map " + std::to_string(o) + " " + std::to_string(d) + " " + std::to_string(len) + " " +
                            std::to_string(t));
    open = false;
  };
  for (const Single& s : in) {
    if (open && s.origin == o + len && s.data == d + len && s.time == t) {
      ++len;
    } else {
      close();
      open = true;
      o = s.origin;
      d = s.data;
      t = s.time;
      len = 1;
    }
  }
  close();
  return out;
}

std::vector<std::string> coalesce(const std::vector<Single>& in) {
  Recorder rec;
  RunCoalescer c(rec);
  for (const Single& s : in) c.add(s.origin, s.data, s.time);
  c.flush();
  return rec.events;
}

TEST(RunCoalescer, Basics) {
  EXPECT_TRUE(coalesce({}).empty());
  EXPECT_EQ(coalesce({{5, 9, 1}}), std::vector<std::string>{"map 5 9 1 1"});
  EXPECT_EQ(coalesce({{0, 10, 0}, {1, 11, 0}, {2, 12, 0}}), std::vector<std::string>{"map 0 10 3 0"});
  // origin gap, data gap, time change, data going backwards, origin jump with data continuing
  EXPECT_EQ(coalesce({{0, 10, 0}, {2, 11, 0}}), (std::vector<std::string>{"map 0 10 1 0", "map 2 11 1 0"}));
  EXPECT_EQ(coalesce({{0, 10, 0}, {1, 12, 0}}), (std::vector<std::string>{"map 0 10 1 0", "map 1 12 1 0"}));
  EXPECT_EQ(coalesce({{0, 10, 0}, {1, 11, 1}, {2, 12, 1}}),
            (std::vector<std::string>{"map 0 10 1 0", "map 1 11 2 1"}));
  EXPECT_EQ(coalesce({{0, 10, 0}, {1, 9, 0}}), (std::vector<std::string>{"map 0 10 1 0", "map 1 9 1 0"}));
  // A time equal to a previous run's but not adjacent does not merge.
  EXPECT_EQ(coalesce({{0, 10, 3}, {1, 11, 3}, {2, 50, 3}, {3, 51, 3}}),
            (std::vector<std::string>{"map 0 10 2 3", "map 2 50 2 3"}));
}

TEST(RunCoalescer, FlushIsPerDeviceAndIdempotent) {
  Recorder rec;
  RunCoalescer c(rec);
  c.flush();
  EXPECT_TRUE(rec.events.empty());
  c.add(0, 0, 0);
  c.add(1, 1, 0);
  EXPECT_TRUE(c.pending());
  EXPECT_TRUE(rec.events.empty());  // nothing is emitted while the run may still grow
  c.flush();
  c.flush();
  EXPECT_FALSE(c.pending());
  // The next device starts afresh even if it continues the previous device's run.
  c.add(2, 2, 0);
  c.flush();
  EXPECT_EQ(rec.events, (std::vector<std::string>{"map 0 0 2 0", "map 2 2 1 0"}));
}

TEST(RunCoalescer, LongRunsSpanLeafBoundaries) {
  // One run of 10,000 blocks: thin_dump sees ~40 btree leaves but prints one range_mapping.
  std::vector<Single> in;
  for (uint64_t i = 0; i < 10000; ++i) in.push_back({1000 + i, 77 + i, 4});
  EXPECT_EQ(coalesce(in), std::vector<std::string>{"map 1000 77 10000 4"});
}

TEST(RunCoalescer, NeverWrapsPastTheLastBlock) {
  EXPECT_EQ(coalesce({{5, kU64Max, 0}, {6, 0, 0}}),
            (std::vector<std::string>{"map 5 18446744073709551615 1 0", "map 6 0 1 0"}));
  EXPECT_EQ(coalesce({{kU64Max - 1, 3, 0}, {kU64Max, 4, 0}}),
            (std::vector<std::string>{"map 18446744073709551614 3 2 0"}));
}

TEST(RunCoalescer, MatchesReferenceOnRandomInput) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 300; ++round) {
    std::vector<Single> in;
    uint64_t origin = rng() % 1000;
    uint64_t data = rng() % 1000;
    uint32_t time = 0;
    int n = static_cast<int>(rng() % 400);
    for (int i = 0; i < n; ++i) {
      in.push_back({origin, data, time});
      uint64_t r = rng() % 10;
      origin += (r == 0) ? 1 + rng() % 5 : 1;
      data = (r == 1) ? rng() % 2000 : data + 1;
      if (r == 2) time = static_cast<uint32_t>(rng() % 3);
    }
    ASSERT_EQ(coalesce(in), reference_runs(in)) << "round " << round;
  }
}

TEST(RunCoalescer, AddRunMerges) {
  Recorder rec;
  RunCoalescer c(rec);
  c.add(MappingRun{0, 100, 3, 1});
  c.add(3, 103, 1);
  c.add(MappingRun{4, 104, 2, 1});
  c.add(MappingRun{6, 106, 2, 2});  // time differs
  c.add(MappingRun{8, 109, 1, 2});  // data gap
  c.flush();
  EXPECT_EQ(rec.events, (std::vector<std::string>{"map 0 100 6 1", "map 6 106 2 2", "map 8 109 1 2"}));
  EXPECT_THROW(c.add(MappingRun{0, 0, 0, 0}), std::invalid_argument);
  EXPECT_THROW(c.add(MappingRun{kU64Max, 0, 2, 0}), std::invalid_argument);
}

// ------------------------------------------------------------------------------------------------
// Reader: accepted input

TEST(XmlReader, RoundTripsRealDumpByteForByte) {
  EXPECT_EQ(rewrite(kRealDump), kRealDump);
  EXPECT_EQ(read_events(kRealDump),
            (std::vector<std::string>{
                "superblock uuid= time=3 transaction=7 flags=0 version=1 dbs=128 nr=1000 snap=-",
                "device 0 mapped=0 trans=0 ctime=0 stime=0", "/device",
                "device 1 mapped=5 trans=0 ctime=0 stime=2", "map 0 10 3 0", "map 3 13 1 1", "map 5 14 1 1",
                "/device", "/superblock"}));
}

TEST(XmlReader, EveryChunkSizeGivesTheSameEvents) {
  std::string doc;
  {
    XmlWriter w(doc);
    write_many(w, 2, 300);
  }
  auto expected = read_events(doc);
  for (std::size_t chunk : {1, 2, 3, 7, 64, 1000, 65536}) {
    XmlReadOptions o;
    o.chunk_size = chunk;
    EXPECT_EQ(read_events(doc, o), expected) << "chunk " << chunk;
  }
  EXPECT_EQ(rewrite(doc), doc);
}

TEST(XmlReader, AcceptsXmlVariants) {
  // XML declaration, comments, a processing instruction, a bare DOCTYPE, CRLF line ends, tabs,
  // attributes in another order, optional attributes, leading zeros, character references,
  // empty-element devices, start/end-tag mappings, whitespace CDATA.
  std::string doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<!DOCTYPE superblock>\r\n"
      "<!-- dumped by hand -->\r\n"
      "<superblock nr_data_blocks=\"0100\" data_block_size=\"&#49;28\" transaction=\"2\" time=\"1\" uuid=\"x&amp;y\"\r\n"
      "            flags=\"1\" version=\"2\" metadata_snap=\"17\">\r\n"
      "\t<?thinsim ignored?>\r\n"
      "\t<device snap_time=\"4\" creation_time=\"3\" transaction=\"2\" mapped_blocks=\"1\" dev_id=\"000\"/>\r\n"
      "\t<device dev_id=\"4294967295\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">"
      "<![CDATA[ \t ]]>"
      "<single_mapping time=\"4294967295\" data_block=\"18446744073709551614\" origin_block=\"0\"></single_mapping>"
      "<range_mapping length=\"2\" time=\"0\" origin_begin=\"18446744073709551613\" data_begin=\"0\">\n</range_mapping>"
      "</device>\r\n"
      "</superblock>\r\n"
      "<!-- trailing comment -->\r\n";
  EXPECT_EQ(read_events(doc),
            (std::vector<std::string>{
                "superblock uuid=x&y time=1 transaction=2 flags=1 version=2 dbs=128 nr=100 snap=17",
                "device 0 mapped=1 trans=2 ctime=3 stime=4", "/device",
                "device 4294967295 mapped=0 trans=0 ctime=0 stime=0", "map 0 18446744073709551614 1 4294967295",
                "map 18446744073709551613 0 2 0", "/device", "/superblock"}));
}

TEST(XmlReader, DefAndRefAreExpandedInPlace) {
  std::string doc =
      "<superblock uuid=\"\" time=\"0\" transaction=\"0\" data_block_size=\"128\" nr_data_blocks=\"100\">\n"
      "  <def name=\"42\">\n"
      "    <range_mapping origin_begin=\"10\" data_begin=\"20\" length=\"5\" time=\"1\"/>\n"
      "    <single_mapping origin_block=\"15\" data_block=\"30\" time=\"1\"/>\n"
      "  </def>\n"
      "  <def name=\"empty\"/>\n"
      "  <device dev_id=\"1\" mapped_blocks=\"7\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
      "    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n"
      "    <ref name=\"42\"/>\n"
      "    <ref name=\"empty\"/>\n"
      "    <single_mapping origin_block=\"16\" data_block=\"2\" time=\"0\"/>\n"
      "  </device>\n"
      "  <def name=\"late\"><single_mapping origin_block=\"1\" data_block=\"2\" time=\"3\"/></def>\n"
      "  <device dev_id=\"2\" mapped_blocks=\"6\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
      "    <ref name=\"42\"/><ref name=\"late\"/>\n"
      "  </device>\n"
      "</superblock>\n";
  EXPECT_EQ(read_events(doc),
            (std::vector<std::string>{
                "superblock uuid= time=0 transaction=0 flags=- version=- dbs=128 nr=100 snap=-",
                "device 1 mapped=7 trans=0 ctime=0 stime=0", "map 0 1 1 0", "map 10 20 5 1", "map 15 30 1 1",
                "map 16 2 1 0", "/device", "device 2 mapped=6 trans=0 ctime=0 stime=0", "map 10 20 5 1",
                "map 15 30 1 1", "map 1 2 1 3", "/device", "/superblock"}));
}

TEST(XmlReader, ReadsFromFileAndDescriptor) {
  std::string path = temp_path("in.xml");
  spit(path, kRealDump);
  Recorder a, b;
  read_thin_xml(path, a);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  read_thin_xml(fd, b, "fd");
  ::close(fd);
  EXPECT_EQ(a.events, read_events(kRealDump));
  EXPECT_EQ(b.events, a.events);
  std::remove(path.c_str());

  Recorder c;
  try {
    read_thin_xml(path, c);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

TEST(XmlReader, ProgressIsReported) {
  std::string doc;
  {
    XmlWriter w(doc);
    write_many(w, 1, 1000);
  }
  std::vector<uint64_t> seen;
  XmlReadOptions o;
  o.chunk_size = 4096;
  o.progress = [&](uint64_t n) { seen.push_back(n); };
  Recorder rec;
  read_thin_xml_string(doc, rec, "t.xml", o);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), doc.size());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

// The visitor sees events while the input is still arriving: the writer side of a pipe waits for
// the first mapping to be delivered before it sends the rest of the document.
TEST(XmlReader, StreamsEventsBeforeTheInputEnds) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);

  std::mutex m;
  std::condition_variable cv;
  bool got_mapping = false;

  struct Signaller : Recorder {
    std::mutex* m;
    std::condition_variable* cv;
    bool* flag;
    void mapping(const MappingRun& r) override {
      Recorder::mapping(r);
      std::lock_guard<std::mutex> lock(*m);
      *flag = true;
      cv->notify_all();
    }
  } rec;
  rec.m = &m;
  rec.cv = &cv;
  rec.flag = &got_mapping;

  std::atomic<bool> timed_out{false};
  std::thread producer([&] {
    std::string head = std::string(kHeader) + kDevice + "    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n";
    // Pad so that the first chunk certainly contains the whole mapping element.
    head += std::string(100, ' ');
    ASSERT_EQ(::write(fds[1], head.data(), head.size()), static_cast<ssize_t>(head.size()));
    {
      std::unique_lock<std::mutex> lock(m);
      if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return got_mapping; })) timed_out = true;
    }
    std::string tail = "  </device>\n</superblock>\n";
    ASSERT_EQ(::write(fds[1], tail.data(), tail.size()), static_cast<ssize_t>(tail.size()));
    ::close(fds[1]);
  });
  XmlReadOptions o;
  o.chunk_size = 65536;
  read_thin_xml(fds[0], rec, "pipe", o);
  producer.join();
  ::close(fds[0]);
  EXPECT_FALSE(timed_out) << "the mapping was not delivered before the end of input";
  EXPECT_EQ(rec.events.back(), "/superblock");
}

// ------------------------------------------------------------------------------------------------
// Reader: errors, each with its location

TEST(XmlReaderErrors, MissingAttribute) {
  expect_error(in_device("    <single_mapping origin_block=\"0\" data_block=\"1\"/>\n"), 3, 5,
               "<single_mapping> is missing attribute \"time\"");
  expect_error(in_device("    <range_mapping origin_begin=\"0\" data_begin=\"1\" time=\"0\"/>\n"), 3, 5,
               "<range_mapping> is missing attribute \"length\"");
  expect_error("<superblock uuid=\"\" time=\"1\" transaction=\"2\" nr_data_blocks=\"1\"/>", 1, 1,
               "<superblock> is missing attribute \"data_block_size\"");
  expect_error(std::string(kHeader) + "  <device dev_id=\"1\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\"/>\n</superblock>",
               2, 3, "<device> is missing attribute \"mapped_blocks\"");
  expect_error(std::string(kHeader) + "  <def/>\n</superblock>", 2, 3, "<def> is missing attribute \"name\"");
}

TEST(XmlReaderErrors, UnknownAttribute) {
  expect_error(in_device("    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\" bogus=\"x\"/>\n"), 3, 5,
               "<single_mapping> has unknown attribute \"bogus\"");
  expect_error("<superblock uuid=\"\" time=\"1\" transaction=\"2\" data_block_size=\"128\" nr_data_blocks=\"1\" "
               "Flags=\"0\"/>",
               1, 1, "<superblock> has unknown attribute \"Flags\"");
}

TEST(XmlReaderErrors, BadNumbers) {
  auto mapping_with_time = [](const std::string& t) {
    return in_device("  <single_mapping origin_block=\"0\" data_block=\"1\" time=\"" + t + "\"/>\n");
  };
  for (const char* bad : {"-1", "+5", " 5", "5 ", "0x10", "1e3", "1.0", "abc", "\xc2\xb2"})
    expect_error(mapping_with_time(bad), 3, 3, "attribute \"time\" is not a plain decimal number");
  expect_error(mapping_with_time(""), 3, 3, "attribute \"time\" is empty");
  expect_error(mapping_with_time("4294967296"), 3, 3,
               "<single_mapping> attribute \"time\" is out of range (maximum 4294967295): \"4294967296\"");
  expect_error(in_device("  <single_mapping origin_block=\"18446744073709551616\" data_block=\"1\" time=\"0\"/>\n"),
               3, 3, "attribute \"origin_block\" is out of range (maximum 18446744073709551615)");
  expect_error(in_device("  <single_mapping origin_block=\"99999999999999999999999999999999\" data_block=\"1\" "
                         "time=\"0\"/>\n"),
               3, 3, "attribute \"origin_block\" is out of range");
  // u32 fields of the superblock and device
  expect_error("<superblock uuid=\"\" time=\"4294967296\" transaction=\"2\" data_block_size=\"128\" "
               "nr_data_blocks=\"1\"/>",
               1, 1, "<superblock> attribute \"time\" is out of range (maximum 4294967295)");
  expect_error("<superblock uuid=\"\" time=\"0\" transaction=\"2\" data_block_size=\"4294967296\" "
               "nr_data_blocks=\"1\"/>",
               1, 1, "attribute \"data_block_size\" is out of range");
  expect_error("<superblock uuid=\"\" time=\"0\" transaction=\"2\" flags=\"4294967296\" data_block_size=\"1\" "
               "nr_data_blocks=\"1\"/>",
               1, 1, "attribute \"flags\" is out of range");
  expect_error("<superblock uuid=\"\" time=\"0\" transaction=\"2\" version=\"-1\" data_block_size=\"1\" "
               "nr_data_blocks=\"1\"/>",
               1, 1, "attribute \"version\" is not a plain decimal number");
  expect_error(std::string(kHeader) +
                   "<device dev_id=\"4294967296\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" "
                   "snap_time=\"0\"/></superblock>",
               2, 1, "<device> attribute \"dev_id\" is out of range (maximum 4294967295)");
  expect_error(std::string(kHeader) +
                   "<device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" "
                   "snap_time=\"4294967296\"/></superblock>",
               2, 1, "<device> attribute \"snap_time\" is out of range");
}

TEST(XmlReaderErrors, RunLengthAndOverflow) {
  expect_error(in_device("    <range_mapping origin_begin=\"0\" data_begin=\"1\" length=\"0\" time=\"0\"/>\n"), 3, 5,
               "<range_mapping> attribute \"length\" must be at least 1");
  expect_error(in_device("    <range_mapping origin_begin=\"18446744073709551610\" data_begin=\"1\" length=\"6\" "
                         "time=\"0\"/>\n"),
               3, 5, "<range_mapping> origin_begin + length overflows 64 bits");
  expect_error(in_device("    <range_mapping origin_begin=\"0\" data_begin=\"18446744073709551614\" length=\"2\" "
                         "time=\"0\"/>\n"),
               3, 5, "<range_mapping> data_begin + length overflows 64 bits");
  expect_error(in_device("    <single_mapping origin_block=\"18446744073709551615\" data_block=\"1\" time=\"0\"/>\n"),
               3, 5, "<single_mapping> origin_block + 1 overflows 64 bits");
  // The largest run that still fits.
  EXPECT_EQ(read_events(in_device("<range_mapping origin_begin=\"18446744073709551610\" data_begin=\"0\" "
                                  "length=\"5\" time=\"0\"/>"))[2],
            "map 18446744073709551610 0 5 0");
}

TEST(XmlReaderErrors, Nesting) {
  expect_error(std::string(kHeader) + "  <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n</superblock>",
               2, 3, "<single_mapping> must be inside <device> or <def>, not inside <superblock>");
  expect_error("<device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\"/>", 1,
               1, "<device> must be inside <superblock>, not at the top level");
  expect_error("<range_mapping origin_begin=\"0\" data_begin=\"1\" length=\"2\" time=\"0\"/>", 1, 1,
               "<range_mapping> must be inside <device> or <def>, not at the top level");
  expect_error(std::string(kHeader) + kHeader + "</superblock></superblock>", 2, 1,
               "<superblock> must be the root element, not inside <superblock>");
  expect_error(in_device("    <device dev_id=\"2\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" "
                         "snap_time=\"0\"/>\n"),
               3, 5, "<device> must be inside <superblock>, not inside <device>");
  expect_error(in_device("    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\">"
                         "<single_mapping origin_block=\"1\" data_block=\"2\" time=\"0\"/></single_mapping>\n"),
               3, 62, "<single_mapping> must be inside <device> or <def>, not inside <single_mapping>");
  expect_error(in_device("    <def name=\"a\"/>\n"), 3, 5, "<def> must be directly inside <superblock>, not inside <device>");
  expect_error(std::string(kHeader) + "  <def name=\"a\"><ref name=\"a\"/></def>\n</superblock>", 2, 17,
               "<ref> must be inside <device>, not inside <def>");
  expect_error(std::string(kHeader) + "  <ref name=\"a\"/>\n</superblock>", 2, 3,
               "<ref> must be inside <device>, not inside <superblock>");
  // Two top-level superblocks are not well-formed XML; expat says so.
  expect_error(std::string(kHeader) + "</superblock>\n" + kHeader + "</superblock>\n", 3, 1,
               "junk after document element");
}

TEST(XmlReaderErrors, UnknownElement) {
  expect_error(in_device("    <foo/>\n"), 3, 5, "unknown element <foo>");
  expect_error("<metadata/>", 1, 1, "unknown element <metadata>");
  // 0.9.0-era names that were never part of the XML format.
  expect_error(std::string(kHeader) + "  <named_mapping/>\n</superblock>", 2, 3, "unknown element <named_mapping>");
}

TEST(XmlReaderErrors, TextContent) {
  expect_error(in_device("    hello\n"), 3, 5,
               "unexpected text \"hello\" inside <device> (only whitespace is allowed between elements)");
  expect_error(std::string(kHeader) + "\n\n   x</superblock>", 4, 4, "unexpected text \"x\" inside <superblock>");
  expect_error(in_device("    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\">5</single_mapping>\n"), 3,
               62, "unexpected text \"5\" inside <single_mapping>");
  expect_error(in_device("<![CDATA[  x ]]>"), 3, 12, "unexpected text \"x \" inside <device>");
  // A character reference to a non-space character is text as well.
  expect_error(in_device("&#65;"), 3, 1, "unexpected text \"A\"");
}

TEST(XmlReaderErrors, DefsAndRefs) {
  expect_error(std::string(kHeader) + kDevice + "    <ref name=\"nope\"/>\n  </device>\n</superblock>", 3, 5,
               "<ref name=\"nope\"> does not name an earlier <def>");
  // A def defined after its use is undefined at the point of use.
  expect_error(std::string(kHeader) + kDevice + "    <ref name=\"d\"/>\n  </device>\n  <def name=\"d\"/>\n</superblock>",
               3, 5, "does not name an earlier <def>");
  expect_error(std::string(kHeader) + "  <def name=\"d\"/>\n  <def name=\"d\"/>\n</superblock>", 3, 3,
               "duplicate <def name=\"d\">");
  expect_error(std::string(kHeader) + "  <def name=\"\"/>\n</superblock>", 2, 3, "<def> attribute \"name\" is empty");
  // The buffering cap: 4 units for the def plus one per run.
  std::string doc = std::string(kHeader) + "  <def name=\"d\">\n";
  for (int i = 0; i < 10; ++i)
    doc += "    <single_mapping origin_block=\"" + std::to_string(i) + "\" data_block=\"1\" time=\"0\"/>\n";
  doc += "  </def>\n</superblock>\n";
  XmlReadOptions o;
  o.max_def_runs = 13;
  expect_error(doc, 12, 5, "<def> contents exceed the limit of 13 buffered mapping runs", o);
  o.max_def_runs = 14;
  EXPECT_NO_THROW(read_events(doc, o));
  // Empty defs count too, so that a flood of them is bounded as well.
  std::string many = kHeader;
  for (int i = 0; i < 1000; ++i) many += "<def name=\"" + std::to_string(i) + "\"/>";
  many += "</superblock>";
  o.max_def_runs = 400;
  // The 101st def is refused; defs 0-9 take 15 columns each and defs 10-99 take 16.
  expect_error(many, 2, 1 + 10 * 15 + 90 * 16, "<def> contents exceed the limit of 400", o);
}

TEST(XmlReaderErrors, MalformedXml) {
  expect_error("", 1, 1, "no element found");
  expect_error("   \n  ", 2, 3, "no element found");
  expect_error(std::string(kHeader) + kDevice + "    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n",
               4, 1, "no element found");  // truncated file
  expect_error(std::string(kHeader) + "  <device", 2, 3, "unclosed token");
  expect_error(in_device("    <single_mapping origin_block=\"0\" origin_block=\"1\" data_block=\"1\" time=\"0\"/>\n"),
               3, 38, "duplicate attribute");
  expect_error(std::string(kHeader) + "  </device>\n", 2, 5, "mismatched tag");
  expect_error(in_device("    <single_mapping origin_block=0 data_block=\"1\" time=\"0\"/>\n"), 3, 34,
               "not well-formed");
  expect_error(std::string("\x00\x01\x02\xff\xfe garbage", 13), 1, 1, "");
  expect_error("\x7f" "ELF\x02\x01\x01", 1, 1, "not well-formed");
  expect_error(in_device("&nbsp;"), 3, 1, "undefined entity");
}

TEST(XmlReaderErrors, BinaryJunkNeverCrashes) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 200; ++i) {
    std::string junk(rng() % 3000, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    // Sometimes start like a real document to get further into the reader.
    if (i % 2 == 0) junk = std::string(kHeader) + kDevice + junk;
    Recorder rec;
    EXPECT_THROW(read_thin_xml_string(junk, rec, "junk"), XmlError);
  }
  // Random truncations of a valid document.
  std::string doc;
  {
    XmlWriter w(doc);
    write_many(w, 2, 20);
  }
  for (std::size_t cut = 0; cut + 1 < doc.size(); cut += 7) {
    Recorder rec;
    EXPECT_THROW(read_thin_xml_string(doc.substr(0, cut), rec, "cut"), XmlError) << "cut at " << cut;
  }
}

TEST(XmlReaderErrors, DoctypeWithDeclarationsIsRefused) {
  const char* billion_laughs =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE superblock [\n"
      "  <!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\n"
      "  <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
      "  <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
      "]>\n"
      "<superblock uuid=\"&c;\" time=\"0\" transaction=\"0\" data_block_size=\"128\" nr_data_blocks=\"1\"/>\n";
  // Reported where expat notices the subset (its '[') or the end of the declaration.
  expect_error(billion_laughs, 2, 22, "DOCTYPE declarations with an internal subset or an external DTD are not supported");
  expect_error("<!DOCTYPE superblock SYSTEM \"http://example.com/x.dtd\"><superblock/>", 1, 55, "DOCTYPE");
}

TEST(XmlReaderErrors, DeepNestingStopsAtTheFirstBadLevel) {
  std::string doc = kHeader;
  for (int i = 0; i < 100000; ++i) doc += "<device dev_id=\"1\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">";
  expect_error(doc, 2, 86, "<device> must be inside <superblock>, not inside <device>");
  std::string divs(1000000, ' ');
  for (std::size_t i = 0; i < divs.size(); i += 3) divs.replace(i, 3, "<a>");
  expect_error(divs, 1, 1, "unknown element <a>");
}

TEST(XmlReaderErrors, OverlongMarkupIsRefusedWithBoundedMemory) {
  XmlReadOptions o;
  o.max_markup_bytes = 1 << 20;
  // An attribute value that never ends.
  std::string doc = std::string(kHeader) + kDevice + "    <single_mapping origin_block=\"" + std::string(4 << 20, '1');
  expect_error(doc, 3, 5, "markup construct longer than 1048576 bytes", o);
  // A comment that never ends, full of '<' and '>'.
  std::string doc2 = std::string(kHeader) + "<!--";
  while (doc2.size() < (3u << 20)) doc2 += "<a> <b/> > < ";
  expect_error(doc2, 2, 1, "markup construct longer than", o);
  // Long legitimate content made of many small constructs is fine with the same limit.
  std::string doc3;
  {
    XmlWriter w(doc3);
    write_many(w, 1, 40000);
  }
  ASSERT_GT(doc3.size(), 2u << 20);
  EXPECT_NO_THROW(read_events(doc3, o));
  // So is a long stretch of whitespace.
  std::string doc4 = std::string(kHeader) + std::string(3 << 20, ' ') + "</superblock>";
  EXPECT_NO_THROW(read_events(doc4, o));
}

// ------------------------------------------------------------------------------------------------
// Reader: visitor exceptions

struct ThrowingVisitor : Recorder {
  int throw_at_mapping = -1;
  bool throw_at_end_device = false;
  bool throw_at_end_superblock = false;
  int mappings = 0;
  void mapping(const MappingRun& r) override {
    if (mappings++ == throw_at_mapping) throw std::out_of_range("mapping beyond end of data device (100 >= 100)");
    Recorder::mapping(r);
  }
  void end_device() override {
    if (throw_at_end_device) throw std::runtime_error("device rejected");
    Recorder::end_device();
  }
  void end_superblock() override {
    if (throw_at_end_superblock) throw std::runtime_error("commit failed");
    Recorder::end_superblock();
  }
};

TEST(XmlReader, VisitorErrorsAreLocatedAndNested) {
  std::string doc = in_device(
      "    <single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>\n"
      "    <single_mapping origin_block=\"1\" data_block=\"100\" time=\"0\"/>\n");
  ThrowingVisitor v;
  v.throw_at_mapping = 1;
  try {
    read_thin_xml_string(doc, v, "t.xml");
    ADD_FAILURE() << "no error";
  } catch (const XmlError& e) {
    EXPECT_STREQ(e.what(), "t.xml:4:5: mapping beyond end of data device (100 >= 100)");
    try {
      std::rethrow_if_nested(e);
      ADD_FAILURE() << "nothing nested";
    } catch (const std::out_of_range& inner) {
      EXPECT_STREQ(inner.what(), "mapping beyond end of data device (100 >= 100)");
    }
  }

  ThrowingVisitor v2;
  v2.throw_at_end_device = true;
  try {
    read_thin_xml_string(doc, v2, "t.xml");
    ADD_FAILURE() << "no error";
  } catch (const XmlError& e) {
    EXPECT_STREQ(e.what(), "t.xml:5:3: device rejected");
  }

  ThrowingVisitor v3;
  v3.throw_at_end_superblock = true;
  try {
    read_thin_xml_string(doc, v3, "t.xml");
    ADD_FAILURE() << "no error";
  } catch (const XmlError& e) {
    EXPECT_STREQ(e.what(), "t.xml:6:1: commit failed");
  }

  // Unlocated: the original exception comes through unchanged.
  ThrowingVisitor v4;
  v4.throw_at_mapping = 0;
  XmlReadOptions o;
  o.locate_visitor_errors = false;
  EXPECT_THROW(read_thin_xml_string(doc, v4, "t.xml", o), std::out_of_range);
}

TEST(XmlReader, EndSuperblockOnlyAfterTheWholeInputIsValid) {
  Recorder rec;
  EXPECT_THROW(read_thin_xml_string(std::string(kRealDump) + "<junk/>", rec, "t.xml"), XmlError);
  ASSERT_FALSE(rec.events.empty());
  EXPECT_EQ(rec.events.back(), "/device");
}

// ------------------------------------------------------------------------------------------------
// Differential tests against the installed thin-provisioning-tools 0.9.0

bool have_tools() {
  return ::access("/usr/sbin/thin_restore", X_OK) == 0 && ::access("/usr/sbin/thin_dump", X_OK) == 0;
}

int run_shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Random pool contents written as restore input: devices and origins ascending, runs split at random
// points (so that thin_dump has to merge them), times < 2^24, correct mapped_blocks, no flags/version.
std::string random_restore_input(std::mt19937_64& rng, int devices, int max_blocks) {
  std::ostringstream o;
  const uint64_t nr_data_blocks = 1 << 20;
  o << "<superblock uuid=\"\" time=\"" << rng() % 50 << "\" transaction=\"" << rng() % 1000
    << "\" data_block_size=\"128\" nr_data_blocks=\"" << nr_data_blocks << "\">\n";
  uint64_t dev_id = rng() % 3;
  for (int d = 0; d < devices; ++d) {
    std::vector<MappingRun> runs;
    uint64_t origin = rng() % 100;
    uint64_t data = rng() % 1000;
    uint32_t time = static_cast<uint32_t>(rng() % 4);
    int blocks = static_cast<int>(rng() % static_cast<uint64_t>(max_blocks + 1));
    uint64_t mapped = 0;
    while (blocks > 0) {
      uint64_t len = 1 + rng() % 8;
      if (rng() % 3 == 0) len = 1 + rng() % 600;  // long enough to cross btree leaves
      len = std::min<uint64_t>(len, static_cast<uint64_t>(blocks));
      runs.push_back(MappingRun{origin, data % (nr_data_blocks - 1000), len, time});
      mapped += len;
      blocks -= static_cast<int>(len);
      origin += len;
      data += len;
      switch (rng() % 5) {  // how the next run relates to this one
        case 0: origin += 1 + rng() % 10; break;           // origin gap
        case 1: data = rng() % 100000; break;              // data jump
        case 2: time = static_cast<uint32_t>(rng() % 4); break;  // maybe a new time
        default: break;                                    // adjacent: thin_dump merges
      }
    }
    o << "  <device dev_id=\"" << dev_id << "\" mapped_blocks=\"" << mapped << "\" transaction=\"" << rng() % 100
      << "\" creation_time=\"" << rng() % 10 << "\" snap_time=\"" << rng() % 10 << "\">\n";
    for (const MappingRun& r : runs) {
      // Write some runs as single mappings block by block, the rest as ranges.
      if (r.length == 1 || rng() % 4 == 0) {
        for (uint64_t i = 0; i < r.length; ++i)
          o << "    <single_mapping origin_block=\"" << r.origin_begin + i << "\" data_block=\"" << r.data_begin + i
            << "\" time=\"" << r.time << "\"/>\n";
      } else {
        o << "    <range_mapping origin_begin=\"" << r.origin_begin << "\" data_begin=\"" << r.data_begin
          << "\" length=\"" << r.length << "\" time=\"" << r.time << "\"/>\n";
      }
    }
    o << "  </device>\n";
    dev_id += 1 + rng() % 1000;
  }
  o << "</superblock>\n";
  return o.str();
}

TEST(ThinDumpOracle, WriterAndCoalescerAreByteIdenticalToThinDump) {
  if (!have_tools()) GTEST_SKIP() << "thin-provisioning-tools not installed";
  std::mt19937_64 rng(2024);
  const std::string meta = temp_path("meta.bin");
  const std::string in = temp_path("in.xml");
  const std::string dumped = temp_path("dumped.xml");
  for (int round = 0; round < 8; ++round) {
    const std::string input = round == 0 ? std::string(kRealDump) : random_restore_input(rng, 1 + round % 4, 3000);
    spit(in, input);
    ASSERT_EQ(run_shell("rm -f " + meta + " && truncate -s 16M " + meta), 0);
    ASSERT_EQ(run_shell("thin_restore -q -i " + in + " -o " + meta + " >/dev/null 2>&1"), 0) << input;
    ASSERT_EQ(run_shell("thin_dump " + meta + " -o " + dumped + " 2>/dev/null"), 0);
    const std::string expected = slurp(dumped);
    ASSERT_FALSE(expected.empty());

    // 1. thin_dump's own output survives reader -> writer unchanged.
    EXPECT_EQ(rewrite(expected), expected) << "round " << round;

    // 2. The restore input, split into single blocks and re-coalesced, prints exactly like thin_dump.
    //    (Round 0's input lists devices out of order and with a wrong mapped_blocks, so only check
    //    the coalesced mapping lines there.)
    std::string ours;
    {
      XmlWriter w(ours);
      Recoalescer rc(w);
      read_thin_xml_string(input, rc, "in.xml");
    }
    if (round > 0) {
      EXPECT_EQ(ours, expected) << "round " << round << "\ninput:\n" << input.substr(0, 2000);
    }

    // 3. thin_dump's output, split and re-coalesced, is unchanged too.
    std::string again;
    {
      XmlWriter w(again);
      Recoalescer rc(w);
      read_thin_xml_string(expected, rc, "dumped.xml");
    }
    EXPECT_EQ(again, expected) << "round " << round;
  }
  std::remove(meta.c_str());
  std::remove(in.c_str());
  std::remove(dumped.c_str());
}

}  // namespace
}  // namespace thinsim::thin
