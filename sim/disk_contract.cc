#include "sim/disk_contract.h"

#include <sstream>
#include <stdexcept>

namespace thinsim::sim {

std::string DiskContract::describe() const {
  std::string s = "atomic=" + std::to_string(atomic_unit);
  s += volatile_cache ? " cache=volatile" : " cache=none";
  s += honours_flush ? " flush=honoured" : " flush=ignored";
  if (torn_sectors) s += " sectors=tearable";
  s += discard == DiscardSemantics::zeroes ? " discard=zeroes" : " discard=undefined";
  return s;
}

DiskContract parse_contract(const std::string& words) {
  DiskContract c;
  std::istringstream in(words);
  std::string w;
  while (in >> w) {
    auto eq = w.find('=');
    const std::string key = w.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : w.substr(eq + 1);
    if (key == "atomic" && (value == "512" || value == "4096"))
      c.atomic_unit = uint32_t(std::stoul(value));
    else if (key == "cache" && (value == "volatile" || value == "none"))
      c.volatile_cache = value == "volatile";
    else if (key == "flush" && (value == "honoured" || value == "ignored"))
      c.honours_flush = value == "honoured";
    else if (key == "sectors" && (value == "atomic" || value == "tearable"))
      c.torn_sectors = value == "tearable";
    else if (key == "discard" && (value == "zeroes" || value == "undefined"))
      c.discard = value == "zeroes" ? DiscardSemantics::zeroes : DiscardSemantics::undefined;
    else
      throw std::invalid_argument(
          "bad disk contract word '" + w +
          "' (expected atomic=512|4096, cache=volatile|none, flush=honoured|ignored, "
          "sectors=atomic|tearable, discard=zeroes|undefined)");
  }
  return c;
}

}  // namespace thinsim::sim
