#include "src/files/site_dirs.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace starling::files {

std::string SiteDir(const std::string& mount, const std::string& site) {
  return mount + "/sites/" + site;
}

std::string FlatName(const std::string& path) {
  std::string name = path;
  std::replace(name.begin(), name.end(), '/', '+');
  return name;
}

std::vector<PersistBind> PersistBinds(const std::string& mount, const std::string& site,
                                      const std::string& docroot,
                                      const std::vector<std::string>& persist, uint32_t owner) {
  std::vector<PersistBind> binds;
  const std::string root = docroot == "/" ? "" : docroot;
  for (const auto& path : persist) {
    binds.push_back({SiteDir(mount, site) + "/" + FlatName(path), root + "/" + path, owner});
  }
  return binds;
}

Result<Located> Locate(const std::string& mount, const std::string& site,
                       const std::vector<std::string>& persist, const std::string& path) {
  for (const auto& persisted : persist) {
    if (path == persisted) return Located{SiteDir(mount, site) + "/" + FlatName(persisted), ""};
    if (path.size() > persisted.size() && path.starts_with(persisted) &&
        path[persisted.size()] == '/') {
      return Located{SiteDir(mount, site) + "/" + FlatName(persisted),
                     path.substr(persisted.size() + 1)};
    }
  }
  return Status::NotFound(path + " is under none of " + site +
                          "'s persisted paths (only those live on the files volume)");
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

// The image's directory at `destination` under `root`, by components that are none of them links:
// a site's image with "wp-content -> /" must not seed its files from the host's root.
Result<std::string> ImageDir(const std::string& root, const std::string& destination) {
  std::string from = root;
  for (size_t start = 1; start <= destination.size();) {
    size_t end = destination.find('/', start);
    if (end == std::string::npos) end = destination.size();
    from += "/" + destination.substr(start, end - start);
    struct stat part {};
    if (::lstat(from.c_str(), &part) == 0 && S_ISLNK(part.st_mode)) {
      return Status::FailedPrecondition(
          destination.substr(0, end) +
          " is a symbolic link in the site's image: it cannot hold a persisted path");
    }
    start = end + 1;
  }
  return from;
}

// One persisted directory `name` in the site's directory (open as `dir`, the host root's).
Status PrepareOne(int dir, const std::string& site_dir, const std::string& name,
                  const PersistBind& bind, uint32_t id_base, const std::string& root) {
  const uid_t uid = id_base + bind.owner;
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    // New: seeded aside from the image, then renamed into place unless another copy's seed got
    // there first (RENAME_NOREPLACE: the first whole one wins, never half of one).
    auto from = ImageDir(root, bind.destination);
    if (!from.ok()) return from.status();
    char host[64] = {};
    ::gethostname(host, sizeof host - 1);
    const std::string aside = ".seed-" + std::string(host) + "-" + std::to_string(::getpid()) +
                              "-" + std::to_string(std::random_device{}()) + "-" + name;
    Status seeded = Seed(*from, site_dir + "/" + aside, uid);
    if (seeded.ok() &&
        ::syscall(SYS_renameat2, dir, aside.c_str(), dir, name.c_str(), RENAME_NOREPLACE) != 0) {
      int error = errno;
      if (error == EINVAL || error == ENOSYS) {
        // The file system has no RENAME_NOREPLACE (GlusterFS's FUSE client): an empty seed is
        // only a mkdir; a full one renamed, which fails over the winner's unless the winner is
        // empty (a directory the image did not have: nothing to lose but an empty directory).
        std::error_code ec;
        const bool empty = std::filesystem::is_empty(site_dir + "/" + aside, ec);
        error = 0;
        if (empty ? ::mkdirat(dir, name.c_str(), 02770) != 0
                  : ::renameat(dir, aside.c_str(), dir, name.c_str()) != 0) {
          error = errno == ENOTEMPTY ? EEXIST : errno;
        }
        if (empty && error == 0 && ::fchownat(dir, name.c_str(), uid, uid, AT_SYMLINK_NOFOLLOW)) {
          error = errno;
        }
      }
      if (error != 0 && error != EEXIST) {
        seeded = Status::IoError("cannot rename " + aside + ": " + std::strerror(error));
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(site_dir + "/" + aside, ec);  // what lost the race, or failed
    if (!seeded.ok()) return seeded;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::IoError("cannot stat " + bind.source + ": " + std::strerror(errno));
    }
  }
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(bind.source + " is not a directory");
  // Owner and mode through a descriptor of the directory itself (never a path a link could
  // redirect).
  const int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot open " + bind.source + ": " + std::strerror(errno));
  Status status = Status::Ok();
  if ((st.st_uid != uid || st.st_gid != uid) && ::fchown(fd, uid, uid) != 0) {
    status = Status::IoError("cannot give " + bind.source + " to " + std::to_string(uid) + ": " +
                             std::strerror(errno));
  } else if ((st.st_mode & 07777) != 02770 && ::fchmod(fd, 02770) != 0) {
    status = Status::IoError("cannot chmod " + bind.source + ": " + std::strerror(errno));
  }
  ::close(fd);
  return status;
}

}  // namespace

Status PrepareDirs(const std::vector<PersistBind>& binds, uint32_t id_base,
                   const std::string& root) {
  for (const auto& bind : binds) {
    // The mount's "sites" and the site's directory: the host root's, 0711.
    const size_t parent = bind.source.rfind('/');
    const std::string site_dir = bind.source.substr(0, parent);
    const std::string name = bind.source.substr(parent + 1);
    if (Status s = MakeDir(site_dir.substr(0, site_dir.rfind('/')), 0711); !s.ok()) return s;
    if (Status s = MakeDir(site_dir, 0711); !s.ok()) return s;
    const int dir = ::open(site_dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) return Status::IoError("cannot open " + site_dir + ": " + std::strerror(errno));
    Status status = PrepareOne(dir, site_dir, name, bind, id_base, root);
    ::close(dir);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace starling::files
