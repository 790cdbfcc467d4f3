// gossip/types.h — the vocabulary of membership: addresses, node metadata, load reports, members.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/names.h"
#include "base/time.h"

namespace starling::gossip {

using NodeName = std::string;

// A UDP/TCP endpoint. `host` is an IP literal; the runtime resolves names before the core sees
// them.
struct Address {
  std::string host;
  uint16_t port = 0;

  std::string ToString() const;
  auto operator<=>(const Address&) const = default;
};

enum class Role : uint8_t { kWorker = 0, kBalancer = 1, kBoth = 2 };
std::string_view RoleName(Role role);

// What a node says about itself; changes ride an Alive message with a higher incarnation.
struct NodeMeta {
  Role role = Role::kWorker;
  uint32_t capacity = 0;    // copy slots offered
  std::string api_address;  // host:port of the HTTP API
  std::string version;      // software version
  bool database = false;    // runs a member of the database cluster (role "db")
  bool storage = false;     // serves a brick of the site files' volume (role "storage")
  bool operator==(const NodeMeta&) const = default;
};

// One copy a node runs, as its load report carries it.
struct CopyLoad {
  std::string site;
  float load1 = 0;
  bool serving = false;
  uint16_t port = 0;      // on the node's advertised host
  bool draining = false;  // about to stop: balancers remove it first
  uint64_t release = 0;   // the tag of the site release it runs (src/sites/release.h)
  bool operator==(const CopyLoad&) const = default;
};

// A db node's database (DESIGN.md §10), as src/rules/db_cluster.h reads it. State 0: no report.
struct DbReport {
  uint8_t state = 0;  // rules::DbState
  std::string uuid;
  // Last committed, while outside a Primary component (what the bootstrap rule compares); -1
  // inside one, where it changes with every write and gossip need not carry it.
  int64_t seqno = -1;
  std::string galera_address;  // host:port
  std::string client_address;  // host:port
  uint32_t cluster_size = 0;
  bool operator==(const DbReport&) const = default;
};

// A storage node's part of the site files' volume (issue 19, docs/FILES.md), as
// src/rules/files_volume.h reads it. State 0: no report.
struct FilesReport {
  uint8_t state = 0;          // rules::FilesState
  bool in_volume = false;     // one of the volume's bricks is this node's
  bool brick_up = false;      // and it runs
  uint32_t heal_pending = 0;  // entries its brick holds that others still need (or it does)
  bool operator==(const FilesReport&) const = default;
};

// Soft, versioned per-node state (DESIGN §4). The newest version per node wins; never persisted.
struct LoadReport {
  uint64_t version = 0;
  double load1 = 0;
  uint32_t cpu_count = 0;
  uint32_t free_slots = 0;
  uint64_t balancer_generation = 0;
  std::vector<CopyLoad> copies;  // at most kMaxCopyLoads (codec.h)
  DbReport database;             // db nodes only
  FilesReport files;             // storage nodes only
  bool operator==(const LoadReport&) const = default;
};

enum class MemberStatus : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
std::string_view MemberStatusName(MemberStatus status);

// What a member says about itself. Immutable, and shared by every entry that holds the same facts:
// the facts are the bulk of a member entry, and a simulator of 10,000 cores holds 10^8 entries.
struct MemberProfile {
  NodeName name;
  Address address;
  NodeMeta meta;
};
using ProfileRef = std::shared_ptr<const MemberProfile>;

// Hands out one shared MemberProfile per distinct set of facts. Forgets profiles nobody holds.
// Not thread-safe: one per core, or one per simulator (which runs its cores on one thread).
class ProfilePool {
 public:
  ProfileRef Intern(const NodeName& name, const Address& address, const NodeMeta& meta);
  size_t size() const { return pool_.size(); }

 private:
  std::unordered_map<std::string, std::weak_ptr<const MemberProfile>> pool_;
  size_t sweep_at_ = 64;
};

struct Member {
  ProfileRef profile;
  uint32_t incarnation = 0;
  MemberStatus status = MemberStatus::kAlive;
  Instant status_since{};  // local time of the last status change

  const NodeName& name() const { return profile->name; }
  const Address& address() const { return profile->address; }
  const NodeMeta& meta() const { return profile->meta; }
};

// Names are node and event identifiers: 1–64 characters of [A-Za-z0-9._-].
using starling::IsValidName;  // base/names.h

}  // namespace starling::gossip
