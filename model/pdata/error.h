// Errors of the persistent-data layers. They carry the errno the kernel would return
// for the same condition (e.g. ENOTBLK for a wrong blocknr, EILSEQ for a bad checksum,
// ENOSPC when a space map is full) plus a message with context.
#pragma once

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace thinsim::pdata {

class PdataError : public std::runtime_error {
 public:
  PdataError(int err, const std::string& what) : std::runtime_error(what), err_(err) {}
  int err() const { return err_; }  // positive errno value

 private:
  int err_;
};

// A metadata block failed validation or holds impossible contents.
class CorruptionError : public PdataError {
 public:
  CorruptionError(int err, uint64_t block, const std::string& what)
      : PdataError(err, what), block_(block) {}
  uint64_t block() const { return block_; }

 private:
  uint64_t block_;
};

class NoSpaceError : public PdataError {
 public:
  explicit NoSpaceError(const std::string& what) : PdataError(ENOSPC, what) {}
};

class IoError : public PdataError {
 public:
  IoError(int err, const std::string& what) : PdataError(err, what) {}
};

}  // namespace thinsim::pdata
