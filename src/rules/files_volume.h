// src/rules/files_volume.h — who forms and grows the site files' volume (issue 19,
// docs/FILES.md). GlusterFS decides everything inside a running volume (replication, quorum,
// self-heal); these rules decide what it cannot: which node creates the volume when none exists,
// which bricks it starts with, and who adds the bricks of storage nodes that join later. Every
// node computes the same answer from the same view and acts only for itself.
//
// Create: while no storage node reports a volume, the lowest-named registered storage node
// creates it, with the bricks of the storage nodes in name order (a multiple of three: replica
// 3), once every storage node the state log has registered — and every storage node gossip shows
// alive — is alive with its glusterd up and without a volume, and there are at least three. A
// registered node that is silent stops everyone: a partition at the first start could otherwise
// form two volumes. Waiting is safe; two volumes are not.
//
// Grow: once a volume exists, storage nodes alive with glusterd up and no brick in it wait to be
// added; when three wait, the lowest-named node whose brick is in the volume and up adds the
// three lowest-named of them (one more replica set). A node gone for good is replaced by the
// operator's word, never by this rule.
//
// Mount: workers mount the volume from the storage nodes whose glusterd knows it, the first by
// name as the volfile server and the others as its backups.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace starling::rules {

// A storage node's glusterd and the volume as it reports them (gossip).
enum class FilesState : uint8_t {
  kUnknown = 0,   // no report yet (or not a storage node any more)
  kDown = 1,      // glusterd not running (starting, or dead)
  kNoVolume = 2,  // glusterd up; it knows no volume
  kStopped = 3,   // it knows the volume, which is not started
  kStarted = 4,   // it knows the volume, started
};
std::string_view FilesStateName(FilesState state);

struct StorageNodeView {
  std::string name;
  std::string host;   // its address (an IP literal): where glusterd and its brick listen
  std::string brick;  // its brick's directory, as it registered it; "" : not registered yet
  bool alive = false;
  FilesState state = FilesState::kUnknown;
  bool in_volume = false;  // one of the volume's bricks is its
  bool brick_up = false;
};

enum class FilesAction : uint8_t {
  kWait = 0,       // nothing to do yet (why says for what)
  kNone = 1,       // the volume stands: nothing for this node to do
  kCreate = 2,     // probe `bricks`' hosts, create the volume with them (this node's first)
  kAddBricks = 3,  // probe `bricks`' hosts and add them to the volume as one replica set
};

struct FilesDecision {
  FilesAction action = FilesAction::kWait;
  std::vector<std::string> bricks;  // "host:/brick", in order
  std::string why;                  // a sentence for the operator
};

inline constexpr size_t kFilesReplica = 3;

// What `self` (a storage node) does. `registered`: the storage nodes the state log knows;
// `nodes`: every storage node gossip shows, self included.
FilesDecision DecideFilesVolume(const std::string& self, const std::vector<std::string>& registered,
                                const std::vector<StorageNodeView>& nodes);

// The node that keeps the volume as the agents want it (started, its options, who may reach it):
// the lowest-named alive node whose glusterd knows the volume and holds a brick of it; "" when
// none does.
std::string FilesKeeper(const std::vector<StorageNodeView>& nodes);

// Where a worker mounts the volume from: the hosts of alive storage nodes whose glusterd knows
// it started, in name order (the first is the volfile server, the rest its backups); empty while
// there is no started volume.
std::vector<std::string> FilesVolfileServers(const std::vector<StorageNodeView>& nodes);

}  // namespace starling::rules
