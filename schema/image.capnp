# A site image's manifest (DESIGN.md §6): the tree, file by file, with each regular file's content
# as a list of content-defined chunks. The SHA-256 of the packed manifest names the image version.
@0xb2c47e1d9a3f5068;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::schema");

struct ChunkRef {
  hash @0 :Data;        # SHA-256 of the chunk's plain bytes (32 bytes)
  size @1 :UInt32;      # plain bytes
}

enum FileKind {
  regular @0;
  directory @1;
  symlink @2;
  hardlink @3;          # another name for the regular file at `target`
}

struct Xattr {
  name @0 :Text;
  value @1 :Data;
}

struct FileEntry {
  path @0 :Text;        # relative to the image root, validated (store/images/paths.h)
  kind @1 :FileKind;
  mode @2 :UInt32;      # permission bits (07777)
  uid @3 :UInt32;
  gid @4 :UInt32;
  mtimeNs @5 :Int64;
  size @6 :UInt64;      # regular files
  chunks @7 :List(ChunkRef);
  target @8 :Text;      # symlink target, or the hardlink's regular file
  xattrs @9 :List(Xattr);
}

struct EnvVar {
  name @0 :Text;
  value @1 :Text;
}

struct Manifest {
  formatVersion @0 :UInt16;
  site @1 :Text;
  command @2 :List(Text);   # how a copy starts (argv)
  env @3 :List(EnvVar);
  files @4 :List(FileEntry); # sorted by path, unique; parents before children
  # Layering (issue 18): a site's version on a stack names the stack's image ("stack.NAME") and
  # version; a stack's version names where sites' trees go in it. Empty: a whole root.
  stack @5 :Text;
  stackVersion @6 :Text;
  docroot @7 :Text;
}

# Chunk transfer between nodes (frame 'C' on the sealed TCP channel). A puller asks for up to
# 4,096 chunks by hash; the peer answers with the ones it holds, stored bytes as they are (zstd
# frames: the puller decompresses and verifies each against its hash), and names the ones it lacks.
struct ChunkRequest {
  hashes @0 :List(Data);
}

struct ChunkData {
  hash @0 :Data;
  zstd @1 :Data;
}

struct ChunkReply {
  chunks @0 :List(ChunkData);
  lacking @1 :List(Data);
  busy @2 :Bool;          # the peer serves too many requests now: ask again later or elsewhere
}
