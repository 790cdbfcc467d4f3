// store/images/transfer.h — the chunk transfer messages (schema/image.capnp): a request names
// chunks by hash, a reply carries the stored (zstd) bytes of those the peer holds and names the
// ones it lacks. Decoders are checked: a peer's bytes are hostile until verified.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "store/images/hash.h"

namespace starling::images {

inline constexpr size_t kMaxChunksPerRequest = 4096;
inline constexpr size_t kMaxChunkReplyBytes = 80u << 20;

struct ChunkReply {
  std::vector<std::pair<Hash, std::string>> chunks;  // hash, zstd frame (unverified)
  std::vector<Hash> lacking;
  bool busy = false;
};

std::string EncodeChunkRequest(const std::vector<Hash>& hashes);
Result<std::vector<Hash>> DecodeChunkRequest(std::string_view bytes);
std::string EncodeChunkReply(const ChunkReply& reply);
Result<ChunkReply> DecodeChunkReply(std::string_view bytes);

}  // namespace starling::images
