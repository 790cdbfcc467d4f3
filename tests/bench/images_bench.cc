// starling-bench-images — the image pipeline's local steps, timed, as JSON on one line each:
//   starling-bench-images import STORE TREE MANIFEST [PREVIOUS_MANIFEST]
//       imports TREE into the chunk store at STORE (both cores), writes the encoded manifest
//   starling-bench-images materialize STORE MANIFEST OUT
//       writes the manifest's tree at OUT from the local chunks
//   starling-bench-images wire STORE MANIFEST PREVIOUS_MANIFEST
//       the bytes a node holding PREVIOUS moves to get MANIFEST: its new chunks as stored
//       (zstd), plus the new manifest's own chunks
// scripts/bench/images runs these beside casync, zstd and rsync on the same tree.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "src/images/importer.h"
#include "src/images/materialize.h"
#include "src/images/registry.h"
#include "store/images/manifest.h"
#include "store/rocksdb/chunk_store.h"

namespace {

using namespace starling;
using namespace starling::images;
using Clock = std::chrono::steady_clock;

int Fail(const std::string& message) {
  std::fprintf(stderr, "starling-bench-images: %s\n", message.c_str());
  return 1;
}

Result<Manifest> ReadManifest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return Decode(bytes.str());
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    return Fail(
        "usage: import STORE TREE MANIFEST [PREVIOUS] | materialize STORE MANIFEST OUT | "
        "wire STORE MANIFEST PREVIOUS");
  }
  const std::string command = argv[1];
  auto store = ChunkStore::Open(argv[2]);
  if (!store.ok()) return Fail(store.status().ToString());
  if (command == "import") {
    std::optional<Manifest> previous;
    if (argc > 5) {
      auto loaded = ReadManifest(argv[5]);
      if (!loaded.ok()) return Fail(loaded.status().ToString());
      previous = std::move(loaded.value());
    }
    ImportOptions options;
    options.previous = previous ? &*previous : nullptr;
    Manifest manifest;
    ImportStats stats;
    const auto start = Clock::now();
    if (Status s = ImportDirectory(argv[3], options, store->get(), &manifest, &stats); !s.ok()) {
      return Fail(s.ToString());
    }
    manifest.site = "bench";
    auto record = StoreManifest(manifest, kManifestChunker, store->get());
    if (!record.ok()) return Fail(record.status().ToString());
    if (Status s = (*store)->Sync(); !s.ok()) return Fail(s.ToString());
    const double seconds = Since(start);
    std::ofstream(argv[4], std::ios::binary) << Encode(manifest);
    std::printf(
        "{\"seconds\": %.3f, \"files\": %llu, \"bytes\": %llu, \"bytes_read\": %llu, "
        "\"chunks\": %llu, \"new_chunks\": %llu, \"new_chunk_bytes\": %llu, "
        "\"store_bytes\": %llu}\n",
        seconds, static_cast<unsigned long long>(stats.files),
        static_cast<unsigned long long>(stats.bytes),
        static_cast<unsigned long long>(stats.bytes_read),
        static_cast<unsigned long long>(stats.chunks),
        static_cast<unsigned long long>(stats.new_chunks),
        static_cast<unsigned long long>(stats.new_chunk_bytes),
        static_cast<unsigned long long>((*store)->SizeOnDisk()));
    return 0;
  }
  if (command == "materialize" && argc > 4) {
    auto manifest = ReadManifest(argv[3]);
    if (!manifest.ok()) return Fail(manifest.status().ToString());
    MaterializeStats stats;
    const auto start = Clock::now();
    if (Status s = Materialize(*manifest, store->get(), argv[4], &stats); !s.ok()) {
      return Fail(s.ToString());
    }
    std::printf("{\"seconds\": %.3f, \"files\": %llu, \"bytes\": %llu}\n", Since(start),
                static_cast<unsigned long long>(stats.files),
                static_cast<unsigned long long>(stats.bytes));
    return 0;
  }
  if (command == "wire" && argc > 4) {
    auto manifest = ReadManifest(argv[3]);
    auto previous = ReadManifest(argv[4]);
    if (!manifest.ok() || !previous.ok()) return Fail("cannot read the manifests");
    // What a node holding the previous version has: its content and its manifest's chunks.
    std::set<Hash> held;
    for (const ChunkRef& chunk : ContentChunks(*previous)) held.insert(chunk.hash);
    auto previous_record = StoreManifest(*previous, kManifestChunker, store->get());
    if (!previous_record.ok()) return Fail(previous_record.status().ToString());
    for (const ChunkRef& chunk : previous_record->manifest_chunks) held.insert(chunk.hash);
    uint64_t chunks = 0, stored_bytes = 0, plain_bytes = 0;
    for (const ChunkRef& chunk : ContentChunks(*manifest)) {
      if (held.contains(chunk.hash)) continue;
      auto bytes = (*store)->GetCompressed(chunk.hash);
      if (!bytes.ok()) return Fail(bytes.status().ToString());
      ++chunks;
      stored_bytes += bytes->size();
      plain_bytes += chunk.size;
    }
    // The manifest travels as chunks too: those the node does not hold yet.
    auto record = StoreManifest(*manifest, kManifestChunker, store->get());
    if (!record.ok()) return Fail(record.status().ToString());
    uint64_t manifest_bytes = 0;
    for (const ChunkRef& chunk : record->manifest_chunks) {
      if (held.contains(chunk.hash)) continue;
      auto bytes = (*store)->GetCompressed(chunk.hash);
      if (bytes.ok()) manifest_bytes += bytes->size();
    }
    std::printf(
        "{\"new_chunks\": %llu, \"new_chunk_plain_bytes\": %llu, \"new_chunk_stored_bytes\": "
        "%llu, \"manifest_stored_bytes\": %llu, \"wire_bytes\": %llu}\n",
        static_cast<unsigned long long>(chunks), static_cast<unsigned long long>(plain_bytes),
        static_cast<unsigned long long>(stored_bytes),
        static_cast<unsigned long long>(manifest_bytes),
        static_cast<unsigned long long>(stored_bytes + manifest_bytes));
    return 0;
  }
  return Fail("unknown command " + command);
}
