# Wire and disk format of the replicated state log (DESIGN.md §5).
#
# A LogExchange travels in one sealed TCP frame (request and reply alike) and, when it is small, as
# a gossip broadcast. Log and state entries are stored in RocksDB as packed LogEntry values.
@0xe8a3c1d5b7f20946;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::schema");

struct LogEntry {
  origin @0 :Text;      # "<node>/<store id>": one append-only log per node's store
  seq @1 :UInt64;       # 1, 2, 3, ... within the origin
  hlc @2 :UInt64;       # hybrid logical clock: 48 bits of milliseconds, 16 logical
  key @3 :Text;
  value @4 :Data;
  tombstone @5 :Bool;   # a delete
}

struct OriginHead {
  origin @0 :Text;
  seq @1 :UInt64;       # highest contiguous sequence held (durably)
}

struct LogExchange {
  protocolVersion @0 :UInt16;
  sender @1 :Text;                    # node name
  digest @2 :List(OriginHead);        # the sender's durable heads
  entries @3 :List(LogEntry);         # log entries the sender believes the receiver lacks
  more @4 :Bool;                      # the sender had more than fit in this batch
  busy @5 :Bool;                      # reply only: serving too many peers now, try later
  # Snapshot pages, for a receiver behind the sender's compaction floor (or new).
  snapshot @6 :Bool;                  # `entries` are state winners, not log ranges
  snapshotCursor @7 :Text;            # request: continue after this key; reply: last key sent
  snapshotDone @8 :Bool;              # reply: the last page
  snapshotDigest @9 :List(OriginHead); # reply: heads the snapshot covers (first page's)
  wantSnapshot @10 :Bool;             # request: the next page of a snapshot in progress
}
