// gossip/messages.h — membership messages as plain structs. gossip/codec.h turns them into bytes.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "gossip/types.h"

namespace starling::gossip {

inline constexpr uint16_t kProtocolVersion = 1;

struct Ping {
  uint32_t seq = 0;
  NodeName target;
  NodeName source;
  Address source_address;
  bool operator==(const Ping&) const = default;
};

// Asks the receiver to probe `target` on the sender's behalf (SWIM indirect probe).
struct IndirectPing {
  uint32_t seq = 0;
  NodeName target;
  Address target_address;
  NodeName source;
  Address source_address;
  bool want_nack = true;
  bool operator==(const IndirectPing&) const = default;
};

struct Ack {
  uint32_t seq = 0;
  bool operator==(const Ack&) const = default;
};

// Lifeguard: an indirect prober says it got no answer, so the requester knows its own path works.
struct Nack {
  uint32_t seq = 0;
  bool operator==(const Nack&) const = default;
};

struct Alive {
  uint32_t incarnation = 0;
  NodeName name;
  Address address;
  NodeMeta meta;
  bool operator==(const Alive&) const = default;
};

struct Suspect {
  uint32_t incarnation = 0;
  NodeName name;
  NodeName from;
  bool operator==(const Suspect&) const = default;
};

struct Dead {
  uint32_t incarnation = 0;
  NodeName name;
  NodeName from;  // from == name: a graceful leave
  bool operator==(const Dead&) const = default;
};

struct Load {
  NodeName name;
  LoadReport report;
  bool operator==(const Load&) const = default;
};

// An application event flooded to every node once (the benchmark's dissemination probe).
struct UserEvent {
  NodeName origin;
  uint64_t lamport_time = 0;
  std::string name;
  std::string payload;
  bool operator==(const UserEvent&) const = default;
};

using Message = std::variant<Ping, IndirectPing, Ack, Nack, Alive, Suspect, Dead, Load, UserEvent>;

struct Datagram {
  uint16_t protocol_version = kProtocolVersion;
  NodeName sender;
  std::vector<Message> messages;
};

struct MemberEntry {
  NodeName name;
  Address address;
  NodeMeta meta;
  uint32_t incarnation = 0;
  MemberStatus status = MemberStatus::kAlive;
  bool operator==(const MemberEntry&) const = default;
};

// Full state exchanged over TCP.
struct PushPull {
  uint16_t protocol_version = kProtocolVersion;
  NodeName sender;
  bool join = false;
  std::vector<MemberEntry> members;
  std::vector<Load> loads;
};

}  // namespace starling::gossip
