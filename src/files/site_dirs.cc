#include "src/files/site_dirs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

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

namespace {

// Copies what `from` holds into `to` (made), regular files, directories and symbolic links
// (never followed), owned by `uid`; anything else (devices, sockets) is left out.
Status Seed(const std::string& from, const std::string& to, uid_t uid) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (::mkdir(to.c_str(), 02770) != 0) return Status::IoError("cannot make " + to);
  if (::lchown(to.c_str(), uid, uid) != 0) return Status::IoError("cannot give " + to);
  if (!fs::is_directory(fs::symlink_status(from, ec))) return Status::Ok();  // nothing to seed
  for (fs::recursive_directory_iterator it(from, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    const fs::path target = fs::path(to) / it->path().lexically_relative(from);
    const fs::file_status status = it->symlink_status(ec);
    if (fs::is_symlink(status)) {
      fs::copy_symlink(it->path(), target, ec);
    } else if (fs::is_directory(status)) {
      fs::create_directory(target, ec);
      if (!ec) fs::permissions(target, status.permissions(), ec);
    } else if (fs::is_regular_file(status)) {
      fs::copy_file(it->path(), target, ec);
    } else {
      continue;
    }
    if (ec) return Status::IoError("cannot seed " + target.string() + ": " + ec.message());
    if (::lchown(target.c_str(), uid, uid) != 0) {
      return Status::IoError("cannot give " + target.string() + ": " + std::strerror(errno));
    }
  }
  if (ec) return Status::IoError("cannot read " + from + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

Status PrepareDirs(const std::vector<PersistBind>& binds, uint32_t id_base,
                   const std::string& root) {
  for (const auto& bind : binds) {
    // Every directory from the mount's "sites" down: the host's root owns those above the
    // persisted one (0711: passable, not listable), the copy's user the persisted one.
    const size_t sites = bind.source.find("/sites/");
    if (sites == std::string::npos) return Status::InvalidArgument("not a site's directory");
    const size_t parent = bind.source.rfind('/');
    for (size_t slash = bind.source.find('/', sites + 1); slash != std::string::npos;
         slash = bind.source.find('/', slash + 1)) {
      if (Status s = MakeDir(bind.source.substr(0, slash), 0711); !s.ok()) return s;
    }
    const uid_t uid = id_base + bind.owner;
    struct stat st {};
    if (::lstat(bind.source.c_str(), &st) != 0) {
      // New: seeded aside from the image, then renamed into place (one copy wins).
      const std::string aside = bind.source.substr(0, parent) + "/.seed-" +
                                std::to_string(::getpid()) + "-" + bind.source.substr(parent + 1);
      std::error_code ec;
      std::filesystem::remove_all(aside, ec);
      // The image's directory, by components that are none of them links: a site's image
      // with "wp-content -> /" must not seed its files from the host's root.
      std::string from = root;
      for (size_t start = 1; start <= bind.destination.size();) {
        size_t end = bind.destination.find('/', start);
        if (end == std::string::npos) end = bind.destination.size();
        from += "/" + bind.destination.substr(start, end - start);
        struct stat part {};
        if (::lstat(from.c_str(), &part) == 0 && S_ISLNK(part.st_mode)) {
          return Status::FailedPrecondition(
              bind.destination.substr(0, end) +
              " is a symbolic link in the site's image: it cannot hold a persisted path");
        }
        start = end + 1;
      }
      Status seeded = Seed(from, aside, uid);
      if (seeded.ok() && ::rename(aside.c_str(), bind.source.c_str()) != 0 && errno != EEXIST &&
          errno != ENOTEMPTY) {
        seeded = Status::IoError("cannot rename " + aside + ": " + std::strerror(errno));
      }
      std::filesystem::remove_all(aside, ec);  // what lost the race, or failed
      if (!seeded.ok()) return seeded;
    }
    if (Status s = MakeDir(bind.source, 02770); !s.ok()) return s;
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
