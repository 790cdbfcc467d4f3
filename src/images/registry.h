// src/images/registry.h — an image version as the state log records it. The manifest itself is
// stored as chunks too (a large site's manifest runs to megabytes, beyond a log value's 256 KiB);
// the log holds its name, its chunk list and a summary, under "image/<site>/<version>".
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "store/images/chunker.h"
#include "store/images/manifest.h"
#include "store/rocksdb/chunk_store.h"

namespace starling::images {

struct ImageRecord {
  std::string site;
  std::string version;  // hex SHA-256 of the encoded manifest
  std::vector<ChunkRef> manifest_chunks;
  uint64_t files = 0;
  uint64_t bytes = 0;   // regular file bytes
  uint64_t chunks = 0;  // distinct content chunks
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;  // the start command's (push --env)
  int64_t pushed_ms = 0;  // wall clock at the pushing node: the newest push is the current one
  std::string pushed_by;
  // A site's version layered on a stack (issue 18): the stack's image name (StackImage) and the
  // version it was pushed on; a copy's root is this version over that one. Empty: a whole root.
  std::string stack;
  std::string stack_version;
  // A stack's version: where a site's tree goes in it (e.g. "/var/www/html").
  std::string docroot;
  bool operator==(const ImageRecord&) const = default;
};

// Stacks are images like any other, under a name no site can have ('.' is not in site names):
// "stack.php" for stack "php".
inline constexpr std::string_view kStackPrefix = "stack.";
std::string StackImage(std::string_view stack);
// Whether `image` names a stack's image.
bool IsStackImage(std::string_view image);
// Checks a stack's name: 1-32 of [a-z0-9-], starting with a letter.
Status ValidateStackName(std::string_view stack);
// Checks an image's name: a site's (sites::ValidateName) or a stack's (StackImage).
Status ValidateImageName(std::string_view image);
// Checks a manifest's layering: a stack's version has a docroot and no stack; a site's version
// names a stack's image and a version, or neither.
Status ValidateLayering(const Manifest& manifest);
// Checks a docroot: absolute, normalized, no "..", at most 255 characters.
Status ValidateDocroot(std::string_view docroot);

// The state log key of a version, and the prefix of a site's versions.
std::string RecordKey(std::string_view site, std::string_view version);
std::string SitePrefix(std::string_view site);

// How manifests are cut: small chunks, so a version that edits scattered files moves only the
// parts of the manifest around those files (a manifest runs to ~100 B per file).
inline constexpr ChunkerOptions kManifestChunker{2 * 1024, 8 * 1024, 32 * 1024};

// Stores the encoded manifest's chunks and returns the record to write to the log.
Result<ImageRecord> StoreManifest(const Manifest& manifest, const ChunkerOptions& chunker,
                                  ChunkStore* store);
// Every chunk a node needs for the version: the manifest's, then (once it is loaded) the files'.
Result<Manifest> LoadManifest(const ImageRecord& record, ChunkStore* store);
std::vector<ChunkRef> ContentChunks(const Manifest& manifest);  // distinct, in first-use order

std::string EncodeRecord(const ImageRecord& record);  // JSON
Result<ImageRecord> DecodeRecord(std::string_view bytes);

}  // namespace starling::images
