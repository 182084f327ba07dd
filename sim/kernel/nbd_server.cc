#include "sim/kernel/nbd_server.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>


namespace thinsim::kernel {

namespace {

constexpr size_t kRequestBytes = 28;
constexpr size_t kReplyBytes = 16;
constexpr uint32_t kMaxRequestBytes = 64u << 20;  // the driver sends at most 32 MiB

uint32_t be32(const std::byte* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
uint64_t be64(const std::byte* p) { return (uint64_t(be32(p)) << 32) | be32(p + 4); }
void put_be32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (24 - 8 * i));
}

// All of n bytes; false at end of file before the first byte.
bool read_all(int fd, std::byte* p, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(std::string("nbd: read from the driver: ") + std::strerror(errno));
    if (r == 0) {
      if (done == 0) return false;
      throw std::runtime_error("nbd: the driver's end closed inside a request");
    }
    done += size_t(r);
  }
  return true;
}

void write_all(int fd, const struct iovec* iov, int n) {
  std::vector<struct iovec> v(iov, iov + n);
  size_t first = 0;
  while (first < v.size()) {
    const ssize_t w = ::writev(fd, v.data() + first, int(v.size() - first));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::runtime_error(std::string("nbd: reply to the driver: ") + std::strerror(errno));
    size_t left = size_t(w);
    while (first < v.size() && left >= v[first].iov_len) left -= v[first++].iov_len;
    if (first < v.size()) {
      v[first].iov_base = static_cast<char*>(v[first].iov_base) + left;
      v[first].iov_len -= left;
    }
  }
}

}  // namespace

void NbdServer::reply(uint64_t handle, int error, const std::byte* data, size_t len) {
  std::byte head[kReplyBytes];
  put_be32(head, kNbdReplyMagic);
  put_be32(head + 4, uint32_t(error));
  put_be32(head + 8, uint32_t(handle >> 32));  // the handle goes back as it came
  put_be32(head + 12, uint32_t(handle));
  struct iovec iov[2] = {{head, kReplyBytes}, {const_cast<std::byte*>(data), len}};
  write_all(sock_, iov, len ? 2 : 1);
}

bool NbdServer::serve_one() {
  std::byte head[kRequestBytes];
  if (!read_all(sock_, head, kRequestBytes)) return false;
  if (be32(head) != kNbdRequestMagic) throw std::runtime_error("nbd: a request without the request magic");
  const uint32_t type = be32(head + 4);
  const uint64_t handle = be64(head + 8), offset = be64(head + 16);
  const uint32_t len = be32(head + 24);
  const uint16_t cmd = uint16_t(type & 0xffff);
  ++requests_;
  if (cmd == kNbdDisconnect) return false;
  if ((cmd == kNbdRead || cmd == kNbdWrite || cmd == kNbdTrim) &&
      (len > kMaxRequestBytes || offset % 512 || len % 512))
    throw std::runtime_error("nbd: a request of " + std::to_string(len) + " bytes at " + std::to_string(offset) +
                             " (not whole sectors, or too long)");
  switch (cmd) {
    case kNbdRead: {
      buf_.resize(len);
      const int err = disk_.read(offset / 512, buf_);
      reply(handle, err, buf_.data(), err ? 0 : len);
      return true;
    }
    case kNbdWrite: {
      buf_.resize(len);
      if (!read_all(sock_, buf_.data(), len)) throw std::runtime_error("nbd: the driver's end closed inside a write");
      reply(handle, disk_.write(offset / 512, buf_, type & kNbdFlagFua), nullptr, 0);
      return true;
    }
    case kNbdFlush: reply(handle, disk_.flush(), nullptr, 0); return true;
    case kNbdTrim: reply(handle, disk_.discard(offset / 512, len / 512), nullptr, 0); return true;
    default: reply(handle, EINVAL, nullptr, 0); return true;
  }
}

}  // namespace thinsim::kernel
