// src/files/site_dirs.h — a site's persisted paths on the workers' mount of the files volume
// (issue 19, docs/FILES.md). Each path P is one directory "<mount>/sites/<site>/<P with '/' as
// '+'>" ('+' is in no persisted path, so the spelling is one-to-one), bound into each copy at
// "<docroot>/P". Flat on purpose: every directory above a persisted one is the host root's
// (0711), so no site ever writes a parent of what the agent makes, chowns or binds as root — a
// site that persisted "x" and then "x/y" cannot plant a link where "x/y" is looked up. A
// persisted directory belongs to the copy's user that writes it (the stack's www-data, or the
// copy's root), mode 2770, so no other site's copies — other users on the host — can read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::files {

struct PersistBind {
  std::string source;       // on the host: the directory on the mount
  std::string destination;  // in the copy's root
  uint32_t owner = 0;       // its owner's uid and gid inside the copy (the host's: + id_base)
};

// The site's directory on the mount.
std::string SiteDir(const std::string& mount, const std::string& site);
// The directory name of persisted path `path` in the site's directory ("a/b" → "a+b").
std::string FlatName(const std::string& path);

// One bind per persisted path. REQUIRES: `persist` valid (sites::ValidatePersist), `docroot`
// absolute and normalized.
std::vector<PersistBind> PersistBinds(const std::string& mount, const std::string& site,
                                      const std::string& docroot,
                                      const std::vector<std::string>& persist, uint32_t owner);

// Where an operator's `path` (relative to the document root, normalized) lies: the persisted
// directory holding it (on the mount) and the rest of the path inside it. kNotFound when no
// persisted path holds it (only persisted files live on the volume).
struct Located {
  std::string dir;   // "<mount>/sites/<site>/<flat name>"
  std::string rest;  // "2026/12/logo.png"; empty: the persisted directory itself
};
Result<Located> Locate(const std::string& mount, const std::string& site,
                       const std::vector<std::string>& persist, const std::string& path);

// Makes each bind's source (and the site's directory) if missing, owned by `id_base + owner`,
// mode 2770. A source made now starts as a copy of what the copy's root (`root`: its overlay,
// the image's files) holds at the destination, owned by that user too — the way a container
// volume starts from the image — so persisting a directory the application ships with (a wiki's
// conf/ and data/) does not hide it. The copy is made aside and renamed into place: of two
// copies starting at once on two workers, one seeds, the other finds it whole. Blocking file
// system calls on the mount: never on the io thread.
Status PrepareDirs(const std::vector<PersistBind>& binds, uint32_t id_base,
                   const std::string& root);

}  // namespace starling::files
