// The guest's served disks without a VM: ServedDisk's control lines and fault semantics
// on a memory disk, and NbdServer's protocol over a socket pair, the test playing the
// kernel's nbd driver (label: unit).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "model/pdata/memory_block_device.h"
#include "sim/kernel/nbd_server.h"
#include "sim/kernel/served_disk.h"

namespace thinsim::kernel {
namespace {

std::vector<std::byte> filled(size_t sectors, uint8_t v) { return std::vector<std::byte>(sectors * 512, std::byte{v}); }

struct Served {
  pdata::MemoryBlockDevice* media;
  std::unique_ptr<ServedDisk> disk;
  Served() {
    auto m = std::make_unique<pdata::MemoryBlockDevice>(64);
    media = m.get();
    disk = std::make_unique<ServedDisk>("data", std::move(m));
  }
  uint8_t at(uint64_t sector) {  // what a read returns, or 0xee if it fails
    std::vector<std::byte> b(512);
    return disk->read(sector, b) ? 0xee : uint8_t(b[0]);
  }
  uint8_t on_media(uint64_t sector) {
    std::vector<std::byte> b(512);
    media->read(sector, b);
    return uint8_t(b[0]);
  }
};

TEST(ServedDisk, ACountedErrorFailsOnlyTheWritesItCounts) {
  Served s;
  s.disk->apply("error write 1 1 5");
  EXPECT_EQ(s.disk->write(0, filled(1, 1), false), 0);
  EXPECT_EQ(s.disk->write(1, filled(1, 2), false), EIO);
  EXPECT_EQ(s.disk->write(2, filled(1, 3), true), 0);
  EXPECT_EQ(s.disk->flush(), 0);
  EXPECT_EQ(s.at(0), 1);
  EXPECT_EQ(s.at(1), 0) << "a failed write changes nothing";
  EXPECT_EQ(s.at(2), 3);
}

TEST(ServedDisk, ALatentErrorFailsReadsUntilAWriteRepairsIt) {
  Served s;
  s.disk->apply("latent 8 2");
  std::vector<std::byte> b(16 * 512);
  EXPECT_EQ(s.disk->read(0, b), EIO) << "a read overlapping the bad sectors fails whole";
  EXPECT_EQ(s.at(7), 0);
  EXPECT_EQ(s.at(9), 0xee);
  EXPECT_EQ(s.disk->write(8, filled(1, 4), false), 0);
  EXPECT_EQ(s.at(8), 4);
  EXPECT_EQ(s.at(9), 0xee) << "only the sectors written are repaired";
}

TEST(ServedDisk, LostAndMisdirectedWritesShowTheCleanDataOnceCleared) {
  Served s;
  ASSERT_EQ(s.disk->write(0, filled(2, 1), false), 0);
  s.disk->apply("lose 1");
  EXPECT_EQ(s.disk->write(0, filled(2, 2), false), 0);
  EXPECT_EQ(s.at(0), 1);
  EXPECT_EQ(s.disk->write(1, filled(1, 3), false), 0) << "only one write is lost";
  EXPECT_EQ(s.at(1), 3);
  s.disk->apply("clear");
  EXPECT_EQ(s.at(0), 2);

  s.disk->apply("misdirect 1 16");
  EXPECT_EQ(s.disk->write(0, filled(1, 5), false), 0);
  EXPECT_EQ(s.at(0), 2);
  EXPECT_EQ(s.at(16), 5);
}

TEST(ServedDisk, SettlingWritesWhatReadsReturnedIntoTheMedia) {
  Served s;
  ASSERT_EQ(s.disk->write(0, filled(1, 1), false), 0);
  s.disk->apply("misdirect 1 16");
  ASSERT_EQ(s.disk->write(0, filled(1, 5), false), 0);
  s.disk->apply("flip 3 0");
  s.disk->apply("latent 4 1");
  EXPECT_EQ(s.on_media(0), 5) << "the clean data took the write";
  EXPECT_EQ(s.on_media(16), 0);
  s.disk->settle();
  EXPECT_EQ(s.on_media(0), 1);
  EXPECT_EQ(s.on_media(16), 5);
  EXPECT_EQ(s.on_media(3), 1) << "the flipped bit is in the media";
  EXPECT_EQ(s.at(4), 0) << "settling clears the faults";
}

TEST(ServedDisk, ABadControlLineIsRefusedWithItsReason) {
  Served s;
  auto refused = [&](const std::string& line, const std::string& why) {
    try {
      s.disk->apply(line);
      ADD_FAILURE() << line << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused("latent 1", "no count");
  refused("latent 60 8", "the disk has 64 sectors");
  refused("error bogus 0 - 5", "unknown operation \"bogus\"");
  refused("error write x - 5", "bad after \"x\"");
  refused("misdirect 1 +-3", "bad offset");
  refused("flip 0 4096", "bit beyond the sector");
  refused("clear now", "unexpected \"now\"");
  refused("melt", "unknown fault \"melt\"");
  EXPECT_EQ(s.disk->write(0, filled(1, 1), false), 0) << "no rule was left behind";
}

// The driver's side of the connection.
class Driver {
 public:
  Driver() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) throw std::runtime_error("socketpair");
    driver_ = sv[0];
    server_ = sv[1];
  }
  ~Driver() {
    ::close(driver_);
    ::close(server_);
  }
  int server_end() const { return server_; }
  void send(uint32_t type, uint64_t handle, uint64_t offset, uint32_t len, const std::vector<std::byte>& data = {},
            uint32_t magic = kNbdRequestMagic) {
    std::vector<std::byte> m(28);
    put(m, 0, magic, 4);
    put(m, 4, type, 4);
    put(m, 8, handle, 8);
    put(m, 16, offset, 8);
    put(m, 24, len, 4);
    m.insert(m.end(), data.begin(), data.end());
    ASSERT_EQ(::write(driver_, m.data(), m.size()), ssize_t(m.size()));
  }
  // The reply's error, after checking its magic and handle; `data` gets a read's bytes.
  uint32_t reply(uint64_t handle, std::vector<std::byte>* data = nullptr) {
    std::vector<std::byte> h(16);
    read_all(h);
    EXPECT_EQ(get(h, 0, 4), kNbdReplyMagic);
    EXPECT_EQ(get(h, 8, 8), handle);
    const uint32_t error = uint32_t(get(h, 4, 4));
    if (data && !error) read_all(*data);
    return error;
  }

 private:
  static void put(std::vector<std::byte>& m, size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) m[at + i] = std::byte(uint8_t(v >> (8 * (n - 1 - i))));
  }
  static uint64_t get(const std::vector<std::byte>& m, size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | uint8_t(m[at + i]);
    return v;
  }
  void read_all(std::vector<std::byte>& out) {
    for (size_t got = 0; got < out.size();) {
      const ssize_t n = ::read(driver_, out.data() + got, out.size() - got);
      ASSERT_GT(n, 0);
      got += size_t(n);
    }
  }
  int driver_, server_;
};

TEST(NbdServer, ServesTheDriversRequestsInOrder) {
  Served s;
  Driver d;
  NbdServer server(d.server_end(), *s.disk);
  d.send(kNbdWrite | kNbdFlagFua, 0x1122334455667788ull, 4096, 1024, filled(2, 7));
  ASSERT_TRUE(server.serve_one());
  EXPECT_EQ(d.reply(0x1122334455667788ull), 0u);
  d.send(kNbdFlush, 2, 0, 0);
  ASSERT_TRUE(server.serve_one());
  EXPECT_EQ(d.reply(2), 0u);
  std::vector<std::byte> got(1024);
  d.send(kNbdRead, 3, 4096, 1024);
  ASSERT_TRUE(server.serve_one());
  ASSERT_EQ(d.reply(3, &got), 0u);
  EXPECT_EQ(got, filled(2, 7));
  d.send(kNbdTrim, 4, 4096, 512);
  ASSERT_TRUE(server.serve_one());
  EXPECT_EQ(d.reply(4), 0u);
  EXPECT_EQ(s.at(8), 0) << "a discarded sector reads as zeroes";
  EXPECT_EQ(s.at(9), 7);

  s.disk->apply("latent 9 1");
  d.send(kNbdRead, 5, 4096, 1024);
  ASSERT_TRUE(server.serve_one());
  EXPECT_EQ(d.reply(5, &got), uint32_t(EIO)) << "an error reply carries no data";
  d.send(kNbdRead, 6, 0, 512);
  ASSERT_TRUE(server.serve_one());
  got.resize(512);
  EXPECT_EQ(d.reply(6, &got), 0u) << "the stream is still in step after the error";

  d.send(kNbdDisconnect, 7, 0, 0);
  EXPECT_FALSE(server.serve_one());
  EXPECT_EQ(server.requests(), 7u);
}

TEST(NbdServer, ARequestBreakingTheProtocolEndsTheConnection) {
  Served s;
  {
    Driver d;
    NbdServer server(d.server_end(), *s.disk);
    d.send(kNbdRead, 1, 0, 512, {}, 0xdeadbeef);
    EXPECT_THROW(server.serve_one(), std::runtime_error);
  }
  {
    Driver d;
    NbdServer server(d.server_end(), *s.disk);
    d.send(kNbdRead, 1, 100, 512);
    EXPECT_THROW(server.serve_one(), std::runtime_error);
  }
  {
    Driver d;
    NbdServer server(d.server_end(), *s.disk);
    d.send(kNbdRead, 1, 0, 512);
    ASSERT_TRUE(server.serve_one());
    std::vector<std::byte> got(512);
    EXPECT_EQ(d.reply(1, &got), 0u);
    d.send(kNbdRead, 2, 64 * 512, 512);  // past the end
    ASSERT_TRUE(server.serve_one());
    EXPECT_EQ(d.reply(2, &got), uint32_t(EIO));
  }
}

}  // namespace
}  // namespace thinsim::kernel
