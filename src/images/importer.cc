#include "src/images/importer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "src/images/chunk_writer.h"
#include "src/images/import_rules.h"
#include "store/images/paths.h"

namespace starling::images {
namespace {

constexpr size_t kMaxXattrBytes = 64 * 1024;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Status Errno(const std::string& what, const std::string& path) {
  return Status::IoError(what + " '" + path + "': " + std::strerror(errno));
}

class Walker {
 public:
  Walker(const std::string& root, const ImportOptions& options, ChunkWriter* writer,
         ImportStats* stats)
      : root_(root),
        options_(options),
        chunker_(options.chunker),
        writer_(writer),
        stats_(stats),
        budget_(options.limits, /*archive_bytes=*/0) {
    if (options.previous != nullptr) {
      for (const FileEntry& file : options.previous->files) previous_.emplace(file.path, &file);
    }
  }

  const std::vector<std::string>& setuid() const { return setuid_; }

  Status Walk(const std::string& relative, std::vector<FileEntry>* files) {
    const std::string full = relative.empty() ? root_ : root_ + "/" + relative;
    DIR* dir = ::opendir(full.c_str());
    if (dir == nullptr) return Errno("cannot open directory", full);
    std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    // Byte order, the manifest's order: a directory's entries follow it, in order.
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = relative.empty() ? name : relative + "/" + name;
      if (Status s = ValidateImagePath(path); !s.ok()) return s;
      if (Status s = Add(path, files); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  Status Add(const std::string& path, std::vector<FileEntry>* files) {
    const std::string full = root_ + "/" + path;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) return Errno("cannot stat", full);
    FileEntry file;
    file.path = path;
    file.mode = st.st_mode & 07777;
    file.uid = st.st_uid;
    file.gid = st.st_gid;
    file.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    if ((file.mode & 06000) != 0 && !options_.rules.allow_setuid && !S_ISLNK(st.st_mode) &&
        !S_ISDIR(st.st_mode)) {
      setuid_.push_back(path);  // refused with the others once the whole tree is seen
    }
    if (S_ISDIR(st.st_mode)) {
      file.kind = FileKind::kDirectory;
      file.mode &= 01777;  // a directory's setgid bit only steers group inheritance: dropped
      if (Status s = ReadXattrs(full, &file); !s.ok()) return s;
      files->push_back(std::move(file));
      return Walk(path, files);
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) return Errno("cannot read link", full);
      target.resize(static_cast<size_t>(n));
      if (Status s = ValidateLinkTarget(path, target); !s.ok()) return s;
      file.kind = FileKind::kSymlink;
      file.mode = 0777;
      file.target = std::move(target);
      files->push_back(std::move(file));
      return Status::Ok();
    }
    if (!S_ISREG(st.st_mode)) {
      if (UnderDev(path)) {
        ++stats_->devices_skipped;
        return Status::Ok();
      }
      return Status::InvalidArgument("'" + path +
                                     "' is a device node, FIFO or socket: not allowed in an image");
    }
    if (st.st_nlink > 1) {
      auto [it, first] = inodes_.emplace(std::make_pair(st.st_dev, st.st_ino), path);
      if (!first) {
        file.kind = FileKind::kHardlink;
        file.target = it->second;
        files->push_back(std::move(file));
        return Status::Ok();
      }
    }
    file.kind = FileKind::kRegular;
    file.size = static_cast<uint64_t>(st.st_size);
    if (file.size > kMaxFileBytes)
      return Status::InvalidArgument("'" + path + "' is absurdly large");
    if (Status s = ReadXattrs(full, &file); !s.ok()) return s;
    if (Status s = budget_.Admit(path, file.size); !s.ok()) return s;
    ++stats_->files;
    stats_->bytes += file.size;
    // Unchanged since the previous version: reuse its chunk list without reading the file.
    auto it = previous_.find(path);
    // A name that was a hard link then: its content is at the name it pointed at.
    if (it != previous_.end() && it->second->kind == FileKind::kHardlink) {
      it = previous_.find(it->second->target);
    }
    if (it != previous_.end()) {
      const FileEntry& before = *it->second;
      if (before.kind == FileKind::kRegular && before.size == file.size &&
          before.mtime_ns == file.mtime_ns && before.mode == file.mode) {
        bool present = true;
        for (const ChunkRef& chunk : before.chunks)
          present = present && writer_->store()->Has(chunk.hash);
        if (present) {
          file.chunks = before.chunks;
          stats_->chunks += file.chunks.size();
          files->push_back(std::move(file));
          return Status::Ok();
        }
      }
    }
    if (Status s = ChunkFile(full, &file); !s.ok()) return s;
    files->push_back(std::move(file));
    return Status::Ok();
  }

  Status ChunkFile(const std::string& full, FileEntry* file) {
    Fd fd(::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.fd < 0) return Errno("cannot open", full);
    ::posix_fadvise(fd.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    const auto read = [&](uint8_t* into, size_t room) -> Result<size_t> {
      for (;;) {
        const ssize_t n = ::read(fd.fd, into, room);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno != EINTR) return Errno("cannot read", full);
      }
    };
    if (Status s = ChunkStream(read, chunker_, writer_, &buffer_, file, stats_); !s.ok()) return s;
    if (file->size != TotalOf(*file)) {
      return Status::IoError("'" + file->path + "' changed size while being read");
    }
    return Status::Ok();
  }

  Status ReadXattrs(const std::string& full, FileEntry* file) {
    std::string names(4096, '\0');
    ssize_t n = ::llistxattr(full.c_str(), names.data(), names.size());
    if (n < 0) {
      if (errno == ENOTSUP || errno == ENODATA) return Status::Ok();
      if (errno == ERANGE)
        return Status::InvalidArgument("too many xattrs on '" + file->path + "'");
      return Errno("cannot list xattrs of", full);
    }
    names.resize(static_cast<size_t>(n));
    size_t start = 0;
    while (start < names.size()) {
      const std::string name = names.c_str() + start;
      start += name.size() + 1;
      if (!IsImageXattr(name)) {
        ++stats_->xattrs_dropped;  // trusted.*, security.*: never applied on a node
        continue;
      }
      std::string value(kMaxXattrBytes, '\0');
      const ssize_t v = ::lgetxattr(full.c_str(), name.c_str(), value.data(), value.size());
      if (v < 0) return Errno("cannot read xattr " + name + " of", full);
      value.resize(static_cast<size_t>(v));
      file->xattrs.emplace_back(name, std::move(value));
    }
    std::sort(file->xattrs.begin(), file->xattrs.end());
    return Status::Ok();
  }

  std::string root_;
  const ImportOptions& options_;
  Chunker chunker_;
  ChunkWriter* writer_;
  ImportStats* stats_;
  ImportBudget budget_;
  std::vector<uint8_t> buffer_;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;
  std::vector<std::string> setuid_;  // setuid and setgid files found (when not allowed)
  std::map<std::string_view, const FileEntry*> previous_;
};

}  // namespace

Status ImportDirectory(const std::string& root, const ImportOptions& options, ChunkStore* store,
                       Manifest* manifest, ImportStats* stats) {
  if (Status s = options.chunker.Validate(); !s.ok()) return s;
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("'" + root + "' is not a directory");
  }
  *stats = ImportStats{};
  ChunkWriter writer(store, kImportWriterThreads);
  Walker walker(root, options, &writer, stats);
  std::vector<FileEntry> files;
  Status walked = walker.Walk("", &files);
  Status written = writer.Finish(stats);
  if (!walked.ok()) return walked;
  if (!written.ok()) return written;
  if (Status s = RefuseSetuid(walker.setuid()); !s.ok()) return s;
  return FinishManifest(std::move(files), options, manifest);
}

}  // namespace starling::images
