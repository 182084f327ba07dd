// The user-space half of an NBD device, as the kernel's nbd driver speaks it once it is
// configured by ioctl (no handshake): requests of a 28-byte big-endian header (magic,
// command and flags, handle, offset, length) plus a write's data, replies of a 16-byte
// header (magic, error, handle) plus a read's data. Each request goes to a ServedDisk,
// in the order it arrives; the driver completes a request whose reply carries any error
// with EIO.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/kernel/served_disk.h"

namespace thinsim::kernel {

inline constexpr uint32_t kNbdRequestMagic = 0x25609513;
inline constexpr uint32_t kNbdReplyMagic = 0x67446698;
enum NbdCommand : uint16_t { kNbdRead = 0, kNbdWrite = 1, kNbdDisconnect = 2, kNbdFlush = 3, kNbdTrim = 4 };
inline constexpr uint32_t kNbdFlagFua = 1u << 16;  // in the command word
// The transmission flags the server offers (NBD_SET_FLAGS): flags, FLUSH, FUA and TRIM.
inline constexpr uint32_t kNbdServerFlags = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 5);

class NbdServer {
 public:
  NbdServer(int sock, ServedDisk& disk) : sock_(sock), disk_(disk) {}

  // Reads one request, runs it and replies. False at a disconnect request or when the
  // driver's end is closed; throws std::runtime_error for a request that breaks the
  // protocol (the connection cannot go on after it).
  bool serve_one();

  uint64_t requests() const { return requests_; }

 private:
  void reply(uint64_t handle, int error, const std::byte* data, size_t len);

  int sock_;
  ServedDisk& disk_;
  std::vector<std::byte> buf_;
  uint64_t requests_ = 0;
};

}  // namespace thinsim::kernel
