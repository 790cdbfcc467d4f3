// src/images/importer.h — turns a directory tree into an image: content-defined chunks into the
// chunk store, a manifest out. Streams each file through a fixed buffer (memory stays bounded
// whatever the tree's size) and skips files unchanged since the previous version.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "store/images/chunker.h"
#include "store/images/manifest.h"
#include "store/rocksdb/chunk_store.h"

namespace starling::images {

// What one import may take (0: no bound). A tree or archive past one is refused before the
// offending file is read: an archive bomb costs its headers, not the disk.
struct ImportLimits {
  uint64_t max_bytes = 0;       // regular file bytes in the image (the site's quota)
  uint32_t max_expansion = 0;   // an archive's file bytes over its own size, once past 64 MiB
  uint64_t min_free_bytes = 0;  // left free on the chunk store's disk, checked as bytes come
  std::string disk_path;        // where that disk is (the chunk store's directory)
};

struct ImportOptions {
  ChunkerOptions chunker;
  ManifestRules rules;                 // setuid/setgid refused unless allowed
  const Manifest* previous = nullptr;  // files with the same size, mtime and mode are not re-read
  ImportLimits limits;
};

struct ImportStats {
  uint64_t files = 0;
  uint64_t bytes = 0;       // regular file bytes in the tree
  uint64_t bytes_read = 0;  // of those, read and chunked (the rest reused)
  uint64_t chunks = 0;
  uint64_t new_chunks = 0;
  uint64_t new_chunk_bytes = 0;  // plain bytes of chunks the store did not hold
  uint64_t devices_skipped = 0;  // device nodes, FIFOs and sockets under dev/ (left out)
  uint64_t xattrs_dropped = 0;   // extended attributes other than user.* (left out)
};

// Imports `root` (a directory) as `manifest->files`; site, command and env are the caller's.
// Special files under dev/ (a root file system's device nodes) are left out and counted: the
// runtime provides /dev. Elsewhere, device nodes, FIFOs, sockets and links escaping the root
// are errors naming the path; setuid and setgid files (unless allowed) are one error naming
// them all. On error the manifest is not produced (chunks already stored are harmless:
// unreferenced chunks are garbage-collected).
Status ImportDirectory(const std::string& root, const ImportOptions& options, ChunkStore* store,
                       Manifest* manifest, ImportStats* stats);

// Imports a tar archive (plain, gzip, xz, zstd, bzip2; ustar, pax, GNU) the same way, streaming
// each member. Absolute paths, "..", links escaping the root, hard links to nothing, device
// nodes, FIFOs, setuid files (unless allowed), absurd sizes and truncated archives are errors
// naming the member.
Status ImportArchive(const std::string& path, const ImportOptions& options, ChunkStore* store,
                     Manifest* manifest, ImportStats* stats);

}  // namespace starling::images
