// A failed target constructor, resume or message: the errno the kernel returns and,
// for constructors, the text it leaves in ti->error.
#pragma once

#include <stdexcept>
#include <string>

namespace thinsim::pool {

class TargetError : public std::runtime_error {
 public:
  TargetError(int err, const std::string& what) : std::runtime_error(what), err_(err) {}
  int err() const { return err_; }  // positive errno

 private:
  int err_;
};

}  // namespace thinsim::pool
