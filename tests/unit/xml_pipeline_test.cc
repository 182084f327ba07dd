// The pipelined reader must be indistinguishable from the plain one: the same events in
// the same order, and the same located errors, whichever side fails first.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "model/thin/xml_pipeline.h"
#include "model/thin/xml_reader.h"

using namespace thinsim::thin;
namespace fs = std::filesystem;

namespace {

class Transcript final : public MetadataVisitor {
 public:
  std::string log;
  uint64_t fail_at_origin = ~uint64_t(0);
  void begin_superblock(const SuperblockInfo& sb) override {
    log += "sb " + std::to_string(sb.transaction) + "\n";
  }
  void end_superblock() override { log += "/sb\n"; }
  void begin_device(const DeviceInfo& d) override { log += "dev " + std::to_string(d.dev_id) + "\n"; }
  void end_device() override { log += "/dev\n"; }
  void mapping(const MappingRun& r) override {
    if (r.origin_begin == fail_at_origin) throw std::runtime_error("refused");
    log += std::to_string(r.origin_begin) + "+" + std::to_string(r.length) + "\n";
  }
};

std::string pool(int devices, int mappings) {
  std::string s = "<superblock uuid=\"\" time=\"0\" transaction=\"7\" data_block_size=\"128\" "
                  "nr_data_blocks=\"100000000\">\n";
  for (int d = 0; d < devices; ++d) {
    s += "  <device dev_id=\"" + std::to_string(d) +
         "\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n";
    for (int m = 0; m < mappings; ++m)
      s += "    <single_mapping origin_block=\"" + std::to_string(m) + "\" data_block=\"" +
           std::to_string(d * mappings + m) + "\" time=\"0\"/>\n";
    s += "  </device>\n";
  }
  return s + "</superblock>\n";
}

class XmlPipeline : public ::testing::Test {
 protected:
  fs::path file = fs::temp_directory_path() / ("thinsim-pipe-" + std::to_string(getpid()) + ".xml");
  void write(const std::string& text) { std::ofstream(file) << text; }
  void TearDown() override { fs::remove(file); }
};

}  // namespace

TEST_F(XmlPipeline, SameEventsAsThePlainReader) {
  write(pool(5, 20000));  // many batches
  Transcript plain, piped;
  read_thin_xml(file.string(), plain);
  read_thin_xml_pipelined(file.string(), piped);
  EXPECT_EQ(plain.log, piped.log);
  EXPECT_NE(piped.log.find("/sb\n"), std::string::npos);
}

TEST_F(XmlPipeline, VisitorErrorsAreLocatedAtTheirElement) {
  write(pool(2, 30000));
  Transcript plain, piped;
  plain.fail_at_origin = piped.fail_at_origin = 12345;
  std::string plain_msg, piped_msg;
  try {
    read_thin_xml(file.string(), plain);
  } catch (const XmlError& e) {
    plain_msg = e.what();
  }
  try {
    read_thin_xml_pipelined(file.string(), piped);
  } catch (const XmlError& e) {
    piped_msg = e.what();
    EXPECT_EQ(e.line(), 2u + 12345u + 1u);  // superblock, device, then one line per mapping
    try {
      std::rethrow_if_nested(e);
      ADD_FAILURE() << "no nested exception";
    } catch (const std::runtime_error& inner) {
      EXPECT_STREQ(inner.what(), "refused");
    }
  }
  EXPECT_FALSE(piped_msg.empty());
  EXPECT_EQ(plain_msg, piped_msg);
}

TEST_F(XmlPipeline, TheEarlierOfTwoErrorsWins) {
  // The visitor refuses a mapping long before a syntax error further on.
  std::string text = pool(1, 20000);
  text.insert(text.rfind("</device>"), "<oops\n");
  write(text);
  Transcript v;
  v.fail_at_origin = 100;
  try {
    read_thin_xml_pipelined(file.string(), v);
    FAIL();
  } catch (const XmlError& e) {
    EXPECT_EQ(e.line(), 103u);
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos);
  }
  // Without the visitor's error, the syntax error is reported, located by expat.
  Transcript ok;
  try {
    read_thin_xml_pipelined(file.string(), ok);
    FAIL();
  } catch (const XmlError& e) {
    EXPECT_GT(e.line(), 20000u);
  }
}

TEST_F(XmlPipeline, MissingFile) {
  Transcript v;
  EXPECT_THROW(read_thin_xml_pipelined((file.string() + ".missing"), v), std::runtime_error);
}
