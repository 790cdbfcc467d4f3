# Wire format of the membership layer (DESIGN.md §3–4).
#
# A UDP datagram's plaintext is a sequence of items, each a little-endian UInt16 length followed by
# one packed GossipMessage; the first item is always a `header`. Several messages share a datagram
# up to the MTU. TCP push-pull frames carry one packed PushPull. Everything is sealed with the
# cluster key before it leaves the node (src/net/sealer.h).
@0xd4b1f0a2c3e45f61;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::schema");

struct Address {
  host @0 :Text;      # an IP literal
  port @1 :UInt16;
}

enum Role {
  worker @0;
  balancer @1;
  both @2;
}

struct NodeMeta {
  role @0 :Role;
  capacity @1 :UInt32;     # copy slots this node offers
  apiAddress @2 :Text;     # host:port of the node's HTTP API
  version @3 :Text;        # software version
  database @4 :Bool;       # runs a member of the database cluster (role "db")
  storage @5 :Bool;        # serves a brick of the site files' volume (role "storage")
}

# Soft state a node publishes about itself; the highest version wins.
struct LoadReport {
  version @0 :UInt64;
  load1 @1 :Float64;              # node 1-minute load average
  cpuCount @2 :UInt32;
  freeSlots @3 :UInt32;
  balancerGeneration @4 :UInt64;  # upstream generation applied (balancers)
  copies @5 :List(CopyLoad);      # the copies this node runs, with their load averages
  database @6 :DbReport;          # db nodes: their database's state (DESIGN.md §10)
  files @7 :FilesReport;          # storage nodes: their part of the files' volume (docs/FILES.md)
}

# A storage node's part of the site files' volume, as it reports it each second.
struct FilesReport {
  state @0 :UInt8;         # 0 unknown, 1 glusterd down, 2 up without a volume, 3 volume stopped, 4 started
  inVolume @1 :Bool;       # one of the volume's bricks is this node's
  brickUp @2 :Bool;        # and it runs
  healPending @3 :UInt32;  # entries its brick holds that still need healing
}

# A db node's database as it reports it each second.
struct DbReport {
  state @0 :UInt8;              # 0 unknown, 1 stopped, 2 non-primary, 3 joining, 4 donor, 5 synced
  uuid @1 :Text;                # cluster state UUID of its data ("" : none)
  seqno @2 :Int64;              # last committed while outside a Primary component, else -1
  galeraAddress @3 :Text;       # host:port of its group communication
  clientAddress @4 :Text;       # host:port of its client port (where endpoints send copies)
  clusterSize @5 :UInt32;       # members of its component
}

struct CopyLoad {
  site @0 :Text;
  load1 @1 :Float32;  # the copy's 1-minute load average (its cgroup's runnable tasks)
  serving @2 :Bool;   # its port answers
  port @3 :UInt16;    # where it listens, on the node's advertised host
  draining @4 :Bool;  # about to stop: balancers take it out of their upstreams first
  release @5 :UInt64;  # the tag of the site release it runs (0: none)
}

enum MemberStatus {
  alive @0;
  suspect @1;
  dead @2;
  left @3;
}

struct Header {
  protocolVersion @0 :UInt16;
  sender @1 :Text;
}

struct Ping {
  seq @0 :UInt32;
  target @1 :Text;          # the node the sender means to reach; others ignore it
  source @2 :Text;
  sourceAddress @3 :Address;
}

struct IndirectPing {
  seq @0 :UInt32;
  target @1 :Text;
  targetAddress @2 :Address;
  source @3 :Text;
  sourceAddress @4 :Address;
  wantNack @5 :Bool;
}

struct Ack {
  seq @0 :UInt32;
}

struct Nack {
  seq @0 :UInt32;
}

struct Alive {
  incarnation @0 :UInt32;
  name @1 :Text;
  address @2 :Address;
  meta @3 :NodeMeta;
}

struct Suspect {
  incarnation @0 :UInt32;
  name @1 :Text;
  from @2 :Text;
}

struct Dead {
  incarnation @0 :UInt32;
  name @1 :Text;
  from @2 :Text;            # from == name means the node left gracefully
}

struct Load {
  name @0 :Text;
  report @1 :LoadReport;
}

struct UserEvent {
  origin @0 :Text;
  lamportTime @1 :UInt64;
  name @2 :Text;
  payload @3 :Data;
}

struct GossipMessage {
  union {
    header @0 :Header;
    ping @1 :Ping;
    indirectPing @2 :IndirectPing;
    ack @3 :Ack;
    nack @4 :Nack;
    alive @5 :Alive;
    suspect @6 :Suspect;
    dead @7 :Dead;
    load @8 :Load;
    userEvent @9 :UserEvent;
  }
}

struct MemberEntry {
  name @0 :Text;
  address @1 :Address;
  meta @2 :NodeMeta;
  incarnation @3 :UInt32;
  status @4 :MemberStatus;
}

# Full state exchange over TCP: on join, periodically, and to reconnect with dead members.
struct PushPull {
  protocolVersion @0 :UInt16;
  sender @1 :Text;
  join @2 :Bool;
  members @3 :List(MemberEntry);
  loads @4 :List(Load);
}
