#include "store/images/transfer.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>

#include "schema/image.capnp.h"

namespace starling::images {
namespace {

namespace s = starling::schema;

capnp::Data::Reader Bytes(const void* data, size_t size) {
  return capnp::Data::Reader(static_cast<const kj::byte*>(data), size);
}

std::string Flatten(capnp::MessageBuilder& builder) {
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

Result<Hash> HashFrom(capnp::Data::Reader data) {
  if (data.size() != 32) return Status::Corruption("chunk hash of the wrong size");
  Hash hash;
  std::memcpy(hash.data(), data.begin(), 32);
  return hash;
}

// Reads a flat message from `bytes`, copying into word-aligned memory when needed.
template <typename Fn>
auto WithReader(std::string_view bytes, size_t max_bytes, Fn fn)
    -> decltype(fn(std::declval<capnp::FlatArrayMessageReader&>())) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0 || bytes.size() > max_bytes) {
    return Status::Corruption("chunk message size out of bounds");
  }
  kj::Array<capnp::word> copy = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(copy.begin(), bytes.data(), bytes.size());
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = copy.size() * 4 + 1024;  // lists are walked more than once
    options.nestingLimit = 8;
    capnp::FlatArrayMessageReader reader(copy, options);
    return fn(reader);
  } catch (const kj::Exception& error) {
    return Status::Corruption(std::string("malformed chunk message: ") +
                              error.getDescription().cStr());
  }
}

}  // namespace

std::string EncodeChunkRequest(const std::vector<Hash>& hashes) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<s::ChunkRequest>();
  auto list = root.initHashes(static_cast<unsigned>(hashes.size()));
  for (unsigned i = 0; i < hashes.size(); ++i) list.set(i, Bytes(hashes[i].data(), 32));
  return Flatten(builder);
}

Result<std::vector<Hash>> DecodeChunkRequest(std::string_view bytes) {
  return WithReader(bytes, 1u << 20, [](auto& reader) -> Result<std::vector<Hash>> {
    auto list = reader.template getRoot<s::ChunkRequest>().getHashes();
    if (list.size() == 0 || list.size() > kMaxChunksPerRequest) {
      return Status::Corruption("a chunk request names 1 to 4096 chunks");
    }
    std::vector<Hash> hashes;
    hashes.reserve(list.size());
    for (auto data : list) {
      auto hash = HashFrom(data);
      if (!hash.ok()) return hash.status();
      hashes.push_back(*hash);
    }
    return hashes;
  });
}

std::string EncodeChunkReply(const ChunkReply& reply) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<s::ChunkReply>();
  auto chunks = root.initChunks(static_cast<unsigned>(reply.chunks.size()));
  for (unsigned i = 0; i < reply.chunks.size(); ++i) {
    chunks[i].setHash(Bytes(reply.chunks[i].first.data(), 32));
    chunks[i].setZstd(Bytes(reply.chunks[i].second.data(), reply.chunks[i].second.size()));
  }
  auto lacking = root.initLacking(static_cast<unsigned>(reply.lacking.size()));
  for (unsigned i = 0; i < reply.lacking.size(); ++i) {
    lacking.set(i, Bytes(reply.lacking[i].data(), 32));
  }
  root.setBusy(reply.busy);
  return Flatten(builder);
}

Result<ChunkReply> DecodeChunkReply(std::string_view bytes) {
  return WithReader(bytes, kMaxChunkReplyBytes, [](auto& reader) -> Result<ChunkReply> {
    auto root = reader.template getRoot<s::ChunkReply>();
    if (root.getChunks().size() + root.getLacking().size() > kMaxChunksPerRequest) {
      return Status::Corruption("a chunk reply names more than 4096 chunks");
    }
    ChunkReply reply;
    reply.busy = root.getBusy();
    for (auto chunk : root.getChunks()) {
      auto hash = HashFrom(chunk.getHash());
      if (!hash.ok()) return hash.status();
      auto data = chunk.getZstd();
      reply.chunks.emplace_back(
          *hash, std::string(reinterpret_cast<const char*>(data.begin()), data.size()));
    }
    for (auto data : root.getLacking()) {
      auto hash = HashFrom(data);
      if (!hash.ok()) return hash.status();
      reply.lacking.push_back(*hash);
    }
    return reply;
  });
}

}  // namespace starling::images
