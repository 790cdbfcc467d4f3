#include "src/images/materialize.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

namespace starling::images {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Status::IoError(what + " '" + path + "': " + std::strerror(errno));
}

timespec ToTimespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

class Builder {
 public:
  Builder(ChunkStore* store, int root, std::string root_path, MaterializeStats* stats)
      : store_(store), root_(root), root_path_(std::move(root_path)), stats_(stats) {}

  Status Add(const FileEntry& file) {
    const char* path = file.path.c_str();
    const std::string shown = root_path_ + "/" + file.path;
    switch (file.kind) {
      case FileKind::kDirectory:
        // Writable for us while we fill it; its real mode is set once its children are in.
        if (::mkdirat(root_, path, 0700) != 0) return Errno("cannot create directory", shown);
        return Status::Ok();
      case FileKind::kSymlink:
        if (::symlinkat(file.target.c_str(), root_, path) != 0) {
          return Errno("cannot create link", shown);
        }
        if (as_root_ && ::fchownat(root_, path, file.uid, file.gid, AT_SYMLINK_NOFOLLOW) != 0) {
          return Errno("cannot chown", shown);
        }
        return Times(file, shown);
      case FileKind::kHardlink:
        if (::linkat(root_, file.target.c_str(), root_, path, 0) != 0) {
          return Errno("cannot create hard link", shown);
        }
        return Status::Ok();
      case FileKind::kRegular:
        return Regular(file, shown);
    }
    return Status::Ok();
  }

  // Directory modes, owners and times, deepest first (setting a parent's time before its
  // children are written would be undone).
  Status FinishDirectories(const std::vector<FileEntry>& files) {
    for (auto it = files.rbegin(); it != files.rend(); ++it) {
      if (it->kind != FileKind::kDirectory) continue;
      const std::string shown = root_path_ + "/" + it->path;
      if (Status s = Xattrs(*it, -1, shown); !s.ok()) return s;
      if (as_root_ && ::fchownat(root_, it->path.c_str(), it->uid, it->gid, AT_SYMLINK_NOFOLLOW)) {
        return Errno("cannot chown", shown);
      }
      if (::fchmodat(root_, it->path.c_str(), it->mode, 0) != 0)
        return Errno("cannot chmod", shown);
      if (Status s = Times(*it, shown); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  Status Regular(const FileEntry& file, const std::string& shown) {
    const int fd = ::openat(root_, file.path.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", shown);
    Status status = Status::Ok();
    for (const ChunkRef& chunk : file.chunks) {
      auto bytes = store_->Get(chunk.hash);
      if (!bytes.ok()) {
        status = Status(bytes.status().code(), "'" + file.path + "': " + bytes.status().message());
        break;
      }
      if (bytes->size() != chunk.size) {
        status = Status::Corruption("'" + file.path + "': a chunk of the wrong size");
        break;
      }
      if (status = WriteAll(fd, *bytes, shown); !status.ok()) break;
    }
    if (status.ok()) status = Xattrs(file, fd, shown);
    if (status.ok() && as_root_ && ::fchown(fd, file.uid, file.gid) != 0) {
      status = Errno("cannot chown", shown);
    }
    if (status.ok() && ::fchmod(fd, file.mode) != 0) status = Errno("cannot chmod", shown);
    if (status.ok()) {
      const timespec times[2] = {ToTimespec(file.mtime_ns), ToTimespec(file.mtime_ns)};
      if (::futimens(fd, times) != 0) status = Errno("cannot set times of", shown);
    }
    ::close(fd);
    if (status.ok()) {
      ++stats_->files;
      stats_->bytes += file.size;
    }
    return status;
  }

  Status Xattrs(const FileEntry& file, int fd, const std::string& shown) {
    for (const auto& [name, value] : file.xattrs) {
      const int r = fd >= 0
                        ? ::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
                        : ::lsetxattr(shown.c_str(), name.c_str(), value.data(), value.size(), 0);
      if (r != 0) return Errno("cannot set xattr " + name + " on", shown);
    }
    return Status::Ok();
  }

  Status Times(const FileEntry& file, const std::string& shown) {
    const timespec times[2] = {ToTimespec(file.mtime_ns), ToTimespec(file.mtime_ns)};
    if (::utimensat(root_, file.path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("cannot set times of", shown);
    }
    return Status::Ok();
  }

  ChunkStore* store_;
  int root_;
  std::string root_path_;
  MaterializeStats* stats_;
  bool as_root_ = ::geteuid() == 0;
};

}  // namespace

Status Materialize(const Manifest& manifest, ChunkStore* store, const std::string& target,
                   MaterializeStats* stats) {
  namespace fs = std::filesystem;
  *stats = MaterializeStats{};
  std::error_code ec;
  if (fs::exists(target, ec)) return Status::Ok();
  if (Status s = Validate(manifest, ManifestRules{.allow_setuid = true}); !s.ok()) return s;
  const std::string partial = target + ".partial";
  fs::remove_all(partial, ec);
  fs::create_directories(fs::path(target).parent_path(), ec);
  if (::mkdir(partial.c_str(), 0700) != 0) return Errno("cannot create", partial);
  const int root = ::open(partial.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return Errno("cannot open", partial);
  Builder builder(store, root, partial, stats);
  Status status = Status::Ok();
  // Directories first, then regular files on two threads (reading, decompressing and verifying
  // chunks is most of the work), then links, whose targets now exist.
  for (const FileEntry& file : manifest.files) {
    if (file.kind != FileKind::kDirectory) continue;
    if (status = builder.Add(file); !status.ok()) break;
  }
  if (status.ok()) {
    std::atomic<size_t> next = 0;
    std::mutex mutex;
    auto work = [&] {
      MaterializeStats mine;
      Builder worker(store, root, partial, &mine);
      for (size_t i = next++; i < manifest.files.size(); i = next++) {
        const FileEntry& file = manifest.files[i];
        if (file.kind != FileKind::kRegular) continue;
        Status s = worker.Add(file);
        std::lock_guard lock(mutex);
        if (!s.ok() && status.ok()) status = s;
        if (!status.ok()) return;
      }
      std::lock_guard lock(mutex);
      stats->files += mine.files;
      stats->bytes += mine.bytes;
    };
    std::thread helper(work);
    work();
    helper.join();
  }
  for (const FileEntry& file : manifest.files) {
    if (!status.ok()) break;
    if (file.kind == FileKind::kSymlink || file.kind == FileKind::kHardlink) {
      status = builder.Add(file);
    }
  }
  if (status.ok()) status = builder.FinishDirectories(manifest.files);
  if (status.ok() && ::syncfs(root) != 0) status = Errno("cannot sync", partial);
  ::close(root);
  if (status.ok() && ::chmod(partial.c_str(), 0755) != 0) status = Errno("cannot chmod", partial);
  if (status.ok() && ::rename(partial.c_str(), target.c_str()) != 0) {
    status = Errno("cannot move into place", target);
  }
  if (!status.ok()) fs::remove_all(partial, ec);
  return status;
}

// Written trees carry the image's modes (read-only directories among them): made writable for us
// before removing.
void Unmaterialize(const std::string& target) {
  std::error_code ec;
  const std::filesystem::path path = target;
  if (!std::filesystem::exists(path, ec)) return;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  ::chmod(path.c_str(), 0700);
  std::filesystem::remove_all(path, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", target, ec.message());
}

}  // namespace starling::images
