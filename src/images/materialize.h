// src/images/materialize.h — writes an image version out as a directory tree, once per node.
// Atomic: the tree is built beside the target and renamed into place, so a reader sees the whole
// tree or none (a crash leaves only a "*.partial" directory, removed at the next attempt).
#pragma once

#include <string>

#include "base/status.h"
#include "store/images/manifest.h"
#include "store/rocksdb/chunk_store.h"

namespace starling::images {

struct MaterializeStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Builds `manifest` at `target` from the chunks in `store` (each verified on read). Owners are
// applied when running as root. An existing `target` is taken as already materialized (its name
// is the version's). A missing or corrupt chunk fails the whole tree with nothing at `target`.
Status Materialize(const Manifest& manifest, ChunkStore* store, const std::string& target,
                   MaterializeStats* stats);

// Removes a written tree (its read-only directories made writable first); logs what it cannot.
void Unmaterialize(const std::string& target);

}  // namespace starling::images
