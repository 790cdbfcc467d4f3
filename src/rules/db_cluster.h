// src/rules/db_cluster.h — who starts the database cluster and who takes its writes (DESIGN.md
// §10). Galera decides everything inside a running cluster (membership, quorum, certification);
// these rules decide what it cannot: which node forms a new Primary component when none exists
// (a first start, or every db node down at once), and which one node all copies write through.
// Every node computes the same answer from the same view and acts only for itself.
//
// Bootstrap: a db node whose mariadbd is not running joins a Primary component if any db node it
// sees is in one. If none is, it may bootstrap only when every db node the state log has
// registered is alive and reports its last committed position while outside any Primary
// component (so none can exist: all its possible members are accounted for) — and so does every
// db node gossip shows alive, registered yet or not — and all that have
// a history share it (one cluster state UUID). Then the node with the highest seqno — ties to
// the lowest name — bootstraps, and only it: the others wait until it is Primary, then join. A
// node behind another alive one never bootstraps, and a node that is silent (dead, partitioned,
// not yet reporting) stops everyone: waiting is safe, a second bootstrap is not. A db node that
// is gone for good leaves the registry by the operator's word (`starling db forget`).
//
// Writer: of the db nodes reporting Synced, the one with the highest rendezvous hash of
// ("db-writer", name): every node's endpoint sends new connections there, so Galera never
// certifies conflicting writes from two nodes; when it leaves Synced, the next one takes over.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace starling::rules {

// A db node's database as it reports it (gossip).
enum class DbState : uint8_t {
  kUnknown = 0,     // no report yet (or not a db node any more)
  kStopped = 1,     // mariadbd not running; last committed position known (recovered)
  kNonPrimary = 2,  // running, in no Primary component (alone, or in a minority)
  kJoining = 3,     // in a Primary component, receiving state (IST/SST) or catching up
  kDonor = 4,       // in a Primary component, giving state to a joiner
  kSynced = 5,      // in a Primary component, in sync: may take writes
};
std::string_view DbStateName(DbState state);

// Whether `state` is a member of a Primary component.
inline bool InPrimary(DbState state) {
  return state == DbState::kJoining || state == DbState::kDonor || state == DbState::kSynced;
}

struct DbNodeView {
  std::string name;
  bool alive = false;  // alive in gossip
  DbState state = DbState::kUnknown;
  std::string uuid;            // cluster state UUID of its data ("" or all zeros: none)
  int64_t seqno = -1;          // last committed; -1: unknown or empty
  std::string address;         // where Galera reaches it (host:port)
  std::string client_address;  // where clients reach its server (host:port: the endpoints)
};

enum class DbAction : uint8_t {
  kWait = 0,       // do nothing yet (why says for what)
  kJoin = 1,       // start mariadbd joining `peers`
  kBootstrap = 2,  // start mariadbd forming a new Primary component
};

struct DbDecision {
  DbAction action = DbAction::kWait;
  std::vector<std::string> peers;  // kJoin: the addresses of the Primary component's members
  std::string why;                 // a sentence for the operator
};

// What `self` (not running a Primary member itself) does. `registered`: the db nodes the state
// log knows (self included once it registered); `nodes`: every db node gossip shows (its
// metadata says db), self included.
DbDecision DecideDbStart(const std::string& self, const std::vector<std::string>& registered,
                         const std::vector<DbNodeView>& nodes);

// The cluster's writer among `nodes`: the Synced, alive one with the highest rendezvous hash;
// empty when none is Synced.
std::string DbWriter(const std::vector<DbNodeView>& nodes);

}  // namespace starling::rules
