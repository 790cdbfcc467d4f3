// src/files/gluster_xml.h — what the `gluster` CLI's XML answers say (issue 19). Every answer is
// untrusted text (any output we did not expect, a truncated one, garbage): a parse returns an
// error naming what was wrong, never throws, and bounds what it keeps.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace starling::files {

// The outcome every answer carries: opRet 0, or opErrstr (or the raw text when it is not XML:
// the CLI prints "Error : Request timed out" without XML).
Status CliOutcome(std::string_view xml);

struct PeerInfo {
  std::string uuid;
  std::string hostname;
  bool connected = false;
  bool in_cluster = false;  // "Peer in Cluster"
};
// `peer status --xml`: the other members of this glusterd's pool.
Result<std::vector<PeerInfo>> ParsePeerStatus(std::string_view xml);

struct VolumeInfo {
  bool exists = false;
  bool started = false;
  std::string id;
  uint32_t replica = 0;
  std::vector<std::string> bricks;             // "host:/path", in the volume's order
  std::map<std::string, std::string> options;  // those set on it (volume set), by name
};
// `volume info VOL --xml`: "does not exist" is an answer (exists = false), not an error.
Result<VolumeInfo> ParseVolumeInfo(std::string_view xml);

struct BrickStatus {
  std::string host;
  std::string path;
  bool up = false;
  int64_t pid = -1;
};
// `volume status VOL --xml`: its bricks (not the daemons).
Result<std::vector<BrickStatus>> ParseVolumeStatus(std::string_view xml);

struct HealBrick {
  std::string name;  // "host:/path"
  bool connected = false;
  uint64_t pending = 0;
  uint64_t split_brain = 0;
};
// `glfsheal VOL info-summary --xml ...`: each brick's backlog; a brick that cannot be reached
// is listed, not connected.
Result<std::vector<HealBrick>> ParseHealSummary(std::string_view xml);

}  // namespace starling::files
