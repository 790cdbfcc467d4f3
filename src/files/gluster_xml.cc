#include "src/files/gluster_xml.h"

#include <charconv>
#include <pugixml.hpp>

namespace starling::files {
namespace {

constexpr size_t kMaxAnswerBytes = 4 << 20;
constexpr size_t kMaxItems = 4096;
constexpr size_t kMaxText = 4096;

// The parsed answer, or why it is none.
Status Load(std::string_view xml, pugi::xml_document* doc) {
  if (xml.size() > kMaxAnswerBytes) return Status::Corruption("gluster's answer is too long");
  const pugi::xml_parse_result parsed = doc->load_buffer(xml.data(), xml.size());
  if (!parsed) {
    // Not XML: the CLI's own words (e.g. "Error : Request timed out"), shortened.
    std::string text(xml.substr(0, 200));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return Status::Unavailable(text.empty() ? "gluster said nothing" : "gluster said: " + text);
  }
  if (!doc->child("cliOutput")) return Status::Corruption("gluster's answer has no cliOutput");
  return Status::Ok();
}

std::string Text(const pugi::xml_node& node) {
  std::string text = node.child_value();
  if (text.size() > kMaxText) text.resize(kMaxText);
  return text;
}

Result<int64_t> Number(const pugi::xml_node& node, const char* what) {
  const std::string text = node.child_value();
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status::Corruption(std::string("gluster's ") + what + " is not a number: '" +
                              text.substr(0, 40) + "'");
  }
  return value;
}

Status Outcome(const pugi::xml_node& out) {
  auto ret = Number(out.child("opRet"), "opRet");
  if (!ret.ok()) return ret.status();
  if (*ret == 0) return Status::Ok();
  std::string why = Text(out.child("opErrstr"));
  if (why.empty()) why = Text(out.child("output"));
  return Status::FailedPrecondition(why.empty() ? "gluster failed" : why);
}

}  // namespace

Status CliOutcome(std::string_view xml) {
  pugi::xml_document doc;
  if (Status s = Load(xml, &doc); !s.ok()) return s;
  return Outcome(doc.child("cliOutput"));
}

Result<std::vector<PeerInfo>> ParsePeerStatus(std::string_view xml) {
  pugi::xml_document doc;
  if (Status s = Load(xml, &doc); !s.ok()) return s;
  const pugi::xml_node out = doc.child("cliOutput");
  if (Status s = Outcome(out); !s.ok()) return s;
  std::vector<PeerInfo> peers;
  for (const pugi::xml_node peer : out.child("peerStatus").children("peer")) {
    if (peers.size() == kMaxItems) return Status::Corruption("too many peers");
    auto connected = Number(peer.child("connected"), "peer's connected");
    if (!connected.ok()) return connected.status();
    peers.push_back({Text(peer.child("uuid")), Text(peer.child("hostname")), *connected == 1,
                     Text(peer.child("stateStr")) == "Peer in Cluster"});
  }
  return peers;
}

Result<VolumeInfo> ParseVolumeInfo(std::string_view xml) {
  pugi::xml_document doc;
  if (Status s = Load(xml, &doc); !s.ok()) return s;
  const pugi::xml_node out = doc.child("cliOutput");
  if (Status s = Outcome(out); !s.ok()) {
    if (s.message().find("does not exist") != std::string::npos) return VolumeInfo{};
    return s;
  }
  const pugi::xml_node volume = out.child("volInfo").child("volumes").child("volume");
  if (!volume) return VolumeInfo{};
  VolumeInfo info;
  info.exists = true;
  info.id = Text(volume.child("id"));
  auto status = Number(volume.child("status"), "volume status");
  if (!status.ok()) return status.status();
  info.started = *status == 1;
  auto replica = Number(volume.child("replicaCount"), "replica count");
  if (!replica.ok()) return replica.status();
  if (*replica < 0 || *replica > 64) return Status::Corruption("bad replica count");
  info.replica = static_cast<uint32_t>(*replica);
  for (const pugi::xml_node brick : volume.child("bricks").children("brick")) {
    if (info.bricks.size() == kMaxItems) return Status::Corruption("too many bricks");
    std::string name = Text(brick.child("name"));
    if (name.empty()) return Status::Corruption("a brick without a name");
    info.bricks.push_back(std::move(name));
  }
  for (const pugi::xml_node option : volume.child("options").children("option")) {
    if (info.options.size() == kMaxItems) return Status::Corruption("too many options");
    info.options[Text(option.child("name"))] = Text(option.child("value"));
  }
  return info;
}

Result<std::vector<BrickStatus>> ParseVolumeStatus(std::string_view xml) {
  pugi::xml_document doc;
  if (Status s = Load(xml, &doc); !s.ok()) return s;
  const pugi::xml_node out = doc.child("cliOutput");
  if (Status s = Outcome(out); !s.ok()) return s;
  std::vector<BrickStatus> bricks;
  for (const pugi::xml_node node :
       out.child("volStatus").child("volumes").child("volume").children("node")) {
    const std::string path = Text(node.child("path"));
    if (path.empty() || path.front() != '/') continue;  // a daemon: "localhost" or an address
    if (bricks.size() == kMaxItems) return Status::Corruption("too many bricks");
    auto status = Number(node.child("status"), "brick status");
    if (!status.ok()) return status.status();
    auto pid = Number(node.child("pid"), "brick pid");
    if (!pid.ok()) return pid.status();
    bricks.push_back({Text(node.child("hostname")), path, *status == 1, *pid});
  }
  return bricks;
}

Result<std::vector<HealBrick>> ParseHealSummary(std::string_view xml) {
  pugi::xml_document doc;
  if (Status s = Load(xml, &doc); !s.ok()) return s;
  const pugi::xml_node out = doc.child("cliOutput");
  if (Status s = Outcome(out); !s.ok()) return s;
  std::vector<HealBrick> bricks;
  for (const pugi::xml_node brick : out.child("healInfo").child("bricks").children("brick")) {
    if (bricks.size() == kMaxItems) return Status::Corruption("too many bricks");
    HealBrick heal;
    heal.name = Text(brick.child("name"));
    heal.connected = Text(brick.child("status")) == "Connected";
    if (heal.connected) {
      auto pending = Number(brick.child("numberOfEntriesInHealPending"), "heal pending");
      auto split = Number(brick.child("numberOfEntriesInSplitBrain"), "split-brain count");
      if (!pending.ok()) return pending.status();
      if (!split.ok()) return split.status();
      if (*pending < 0 || *split < 0) return Status::Corruption("a negative heal count");
      heal.pending = static_cast<uint64_t>(*pending);
      heal.split_brain = static_cast<uint64_t>(*split);
    }
    bricks.push_back(std::move(heal));
  }
  return bricks;
}

}  // namespace starling::files
