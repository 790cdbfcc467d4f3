#include "src/files/site_dirs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace starling::files {

std::string SiteDir(const std::string& mount, const std::string& site) {
  return mount + "/sites/" + site;
}

std::vector<PersistBind> PersistBinds(const std::string& mount, const std::string& site,
                                      const std::string& docroot,
                                      const std::vector<std::string>& persist, uint32_t owner) {
  std::vector<PersistBind> binds;
  const std::string root = docroot == "/" ? "" : docroot;
  for (const auto& path : persist) {
    binds.push_back({SiteDir(mount, site) + "/" + path, root + "/" + path, owner});
  }
  return binds;
}

namespace {

// Makes `dir` (its parent exists) unless it is there; an existing one must be a directory.
Status MakeDir(const std::string& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::FailedPrecondition(dir + " is not a directory");
    }
    return Status::Ok();
  }
  return Status::IoError("cannot make " + dir + ": " + std::strerror(errno));
}

}  // namespace

Status PrepareDirs(const std::vector<PersistBind>& binds, uint32_t id_base) {
  for (const auto& bind : binds) {
    // Every directory from the mount's "sites" down: the host's root owns those above the
    // persisted one (0711: passable, not listable), the copy's user the persisted one.
    const size_t sites = bind.source.find("/sites/");
    if (sites == std::string::npos) return Status::InvalidArgument("not a site's directory");
    for (size_t slash = bind.source.find('/', sites + 1); slash != std::string::npos;
         slash = bind.source.find('/', slash + 1)) {
      if (Status s = MakeDir(bind.source.substr(0, slash), 0711); !s.ok()) return s;
    }
    if (Status s = MakeDir(bind.source, 02770); !s.ok()) return s;
    const uid_t uid = id_base + bind.owner;
    struct stat st {};
    if (::stat(bind.source.c_str(), &st) != 0) return Status::IoError("cannot stat " + bind.source);
    if (st.st_uid != uid || st.st_gid != uid) {
      if (::chown(bind.source.c_str(), uid, uid) != 0) {
        return Status::IoError("cannot give " + bind.source + " to " + std::to_string(uid) + ": " +
                               std::strerror(errno));
      }
    }
    if ((st.st_mode & 07777) != 02770 && ::chmod(bind.source.c_str(), 02770) != 0) {
      return Status::IoError("cannot chmod " + bind.source + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

}  // namespace starling::files
