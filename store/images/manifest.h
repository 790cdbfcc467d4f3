// store/images/manifest.h — a site image version: its files, in path order, and how it starts.
// Encoded with Cap'n Proto (schema/image.capnp); the SHA-256 of the encoding names the version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "store/images/hash.h"

namespace starling::images {

struct ChunkRef {
  Hash hash{};
  uint32_t size = 0;
  bool operator==(const ChunkRef&) const = default;
};

enum class FileKind : uint8_t { kRegular = 0, kDirectory = 1, kSymlink = 2, kHardlink = 3 };

struct FileEntry {
  std::string path;
  FileKind kind = FileKind::kRegular;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  std::vector<ChunkRef> chunks;
  std::string target;
  std::vector<std::pair<std::string, std::string>> xattrs;
  bool operator==(const FileEntry&) const = default;
};

// How a version stands to stacks (issue 18), part of what the version is: a site's version on a
// stack names the stack's image and version (the same tree on another stack version is another
// version); a stack's version names where sites' trees go in it.
struct Layering {
  std::string stack;          // the stack's image name ("stack.php"); empty: a whole root
  std::string stack_version;  // hex SHA-256 of the stack version's manifest
  std::string docroot;        // a stack's: "/var/www/html"
  bool operator==(const Layering&) const = default;
};

struct Manifest {
  std::string site;
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<FileEntry> files;
  Layering layering;
  bool operator==(const Manifest&) const = default;
};

inline constexpr uint16_t kManifestFormat = 1;
inline constexpr size_t kMaxManifestBytes = 512u << 20;
inline constexpr uint64_t kMaxFileBytes = uint64_t{1} << 40;  // 1 TiB: anything larger is absurd

struct ManifestRules {
  bool allow_setuid = false;  // setuid/setgid bits are refused unless asked for
};

// Paths valid, sorted and unique, parents present before children, links inside the root,
// hardlinks naming an earlier regular file, chunk sizes adding up to each file's size, modes
// within 07777 (no setuid/setgid unless allowed).
Status Validate(const Manifest& manifest, const ManifestRules& rules = {});

// Whether an image may carry the extended attribute `name`: user.* only. trusted.* and
// security.* would be applied on the host by whoever writes the tree out (as root).
inline bool IsImageXattr(std::string_view name) { return name.starts_with("user."); }

std::string Encode(const Manifest& manifest);
// Decodes and validates (setuid allowed: the pusher's flag was checked at import).
Result<Manifest> Decode(std::string_view bytes);
// The version name: hex SHA-256 of the encoding.
std::string VersionOf(std::string_view encoded);

}  // namespace starling::images
