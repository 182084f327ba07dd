#include "peer/peer_tools.h"

#include <chrono>
#include <cstdlib>
#include <optional>

namespace thinsim::peer {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

PeerTools locate_peer_tools() {
  PeerTools t;
  const char* dir = std::getenv("THINSIM_PEER_DIR");
  auto find = [&](const char* name) -> std::string {
    std::optional<std::string> p;
    if (dir && *dir)
      p = find_in_path(std::string(dir) + "/" + name);
    else
      p = find_in_path(name);
    if (!p) throw ToolMissing(std::string(kInstallHint) + " (" + name + " is missing)");
    return *p;
  };
  t.thin_restore = find("thin_restore");
  t.thin_check = find("thin_check");
  t.thin_dump = find("thin_dump");
  RunOptions o;
  o.timeout = std::chrono::seconds(20);
  auto v = run_command({t.thin_dump, "--version"}, o);
  t.version = trim(v.out.empty() ? v.err : v.out);
  return t;
}

}  // namespace thinsim::peer
