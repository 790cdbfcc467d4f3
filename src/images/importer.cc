#include "src/images/importer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "store/images/paths.h"
#include "store/images/puller.h"  // HashOfHash

namespace starling::images {
namespace {

constexpr size_t kMaxXattrBytes = 64 * 1024;
constexpr int kWriterThreads = 2;  // compress and store beside the reading thread

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

uint64_t TotalOf(const FileEntry& file) {
  uint64_t total = 0;
  for (const ChunkRef& chunk : file.chunks) total += chunk.size;
  return total;
}

// Compresses and stores chunks on worker threads while the caller reads, cuts and names the
// next ones: import uses both cores. The queue is bounded in bytes, so memory stays bounded.
// Each distinct chunk is queued once per import (the caller names chunks, so duplicates are
// known at once).
class ChunkWriter {
 public:
  ChunkWriter(ChunkStore* store, int threads) : store_(store) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ChunkWriter() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    ready_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  // Queues `chunk` (copied) to be stored under `hash`, unless this import queued it already.
  // Returns a worker's earlier error, if any.
  Status Add(const Hash& hash, std::span<const uint8_t> chunk) {
    std::unique_lock lock(mutex_);
    if (!error_.ok()) return error_;
    if (!queued_hashes_.insert(hash).second) return Status::Ok();
    room_.wait(lock, [&] { return queued_bytes_ < kMaxQueuedBytes || !error_.ok(); });
    queued_bytes_ += chunk.size();
    queue_.push_back(Job{hash, std::vector<uint8_t>(chunk.begin(), chunk.end())});
    lock.unlock();
    ready_.notify_one();
    return Status::Ok();
  }

  ChunkStore* store() const { return store_; }

  // Waits for every queued chunk; adds what was new to `stats`.
  Status Finish(ImportStats* stats) {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return (queue_.empty() && busy_ == 0) || !error_.ok(); });
    stats->new_chunks += new_chunks_;
    stats->new_chunk_bytes += new_chunk_bytes_;
    return error_;
  }

 private:
  static constexpr size_t kMaxQueuedBytes = 32u << 20;
  struct Job {
    Hash hash;
    std::vector<uint8_t> bytes;
  };

  void Work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ready_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing
      Job job = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      lock.unlock();
      auto added = store_->Put(job.hash, job.bytes);
      lock.lock();
      --busy_;
      queued_bytes_ -= job.bytes.size();
      if (!added.ok() && error_.ok()) error_ = added.status();
      if (added.ok() && *added) {
        ++new_chunks_;
        new_chunk_bytes_ += job.bytes.size();
      }
      room_.notify_all();
      if (queue_.empty() && busy_ == 0) idle_.notify_all();
    }
  }

  ChunkStore* store_;
  std::mutex mutex_;
  std::condition_variable ready_, room_, idle_;
  std::deque<Job> queue_;
  std::unordered_set<Hash, HashOfHash> queued_hashes_;
  size_t queued_bytes_ = 0;
  int busy_ = 0;
  bool closing_ = false;
  Status error_ = Status::Ok();
  uint64_t new_chunks_ = 0;
  uint64_t new_chunk_bytes_ = 0;
  std::vector<std::thread> workers_;
};

// Reads a file's bytes with `read` (0 = end) through `buffer`, cuts them into chunks, names them,
// hands them to `writer` and lists them in `file`. Memory: the buffer, whatever the file's size.
// Each byte is moved within the buffer at most once.
template <typename Read>
Status ChunkStream(Read& read, const Chunker& chunker, ChunkWriter* writer,
                   std::vector<uint8_t>* buffer, FileEntry* file, ImportStats* stats) {
  const size_t max = chunker.options().max_bytes;
  if (buffer->size() < 2 * max) buffer->resize(2 * max);
  size_t begin = 0, end = 0;
  bool eof = false;
  for (;;) {
    if (!eof && end - begin < max) {
      // Slide what is left to the front, then fill the rest.
      std::memmove(buffer->data(), buffer->data() + begin, end - begin);
      end -= begin;
      begin = 0;
      while (!eof && end < buffer->size()) {
        auto n = read(buffer->data() + end, buffer->size() - end);
        if (!n.ok()) return n.status();
        if (*n == 0) eof = true;
        end += *n;
      }
    }
    if (begin == end) break;
    const auto data = std::span<const uint8_t>(buffer->data() + begin, end - begin);
    const size_t cut = chunker.NextCut(data);
    const auto chunk = data.subspan(0, cut);
    const Hash hash = Sha256(chunk);
    if (Status s = writer->Add(hash, chunk); !s.ok()) return s;
    ++stats->chunks;
    stats->bytes_read += cut;
    file->chunks.push_back(ChunkRef{hash, static_cast<uint32_t>(cut)});
    begin += cut;
  }
  return Status::Ok();
}

// A special file under dev/: a root file system's device nodes, which the runtime provides.
bool UnderDev(const std::string& path) { return path.starts_with("dev/"); }

// The setuid and setgid files of a tree, refused together (a root file system has a dozen:
// naming one at a time would take a dozen pushes).
Status RefuseSetuid(const std::vector<std::string>& paths) {
  if (paths.empty()) return Status::Ok();
  std::string names;
  for (size_t i = 0; i < paths.size() && i < 10; ++i) names += (i ? ", " : "") + paths[i];
  if (paths.size() > 10) names += " and " + std::to_string(paths.size() - 10) + " more";
  return Status::InvalidArgument(
      std::to_string(paths.size()) + " setuid or setgid file" + (paths.size() > 1 ? "s" : "") +
      ": " + names +
      ". Inside a copy they would run with their owner's rights; remove them from the tree, or "
      "keep them with --allow-setuid");
}

class Walker {
 public:
  Walker(const std::string& root, const ImportOptions& options, ChunkWriter* writer,
         ImportStats* stats)
      : root_(root), options_(options), chunker_(options.chunker), writer_(writer), stats_(stats) {
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
  std::vector<uint8_t> buffer_;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;
  std::vector<std::string> setuid_;  // setuid and setgid files found (when not allowed)
  std::map<std::string_view, const FileEntry*> previous_;
};

// Sorts the entries into the manifest's order, makes the first name (in that order) of each
// hard-linked file hold its content, validates, and fills `manifest` only when all is well.
Status Finish(std::vector<FileEntry> files, const ImportOptions& options, Manifest* manifest) {
  // The walk visits a directory's entries in name order, but the manifest is in byte order of
  // whole paths ("a-b" < "a/x"); parents still precede children. Then the first name of each
  // hard-linked file, in that order, becomes the regular file the others point at.
  std::sort(files.begin(), files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  std::map<std::string, size_t> first_of;  // the walk's regular file -> its first name by order
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < files.size(); ++i) index.emplace(files[i].path, i);
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i].kind != FileKind::kHardlink) continue;
    auto target = index.find(files[i].target);
    if (target == index.end() || files[target->second].kind != FileKind::kRegular) {
      return Status::InvalidArgument("hard link '" + files[i].path + "' -> '" + files[i].target +
                                     "' does not name a regular file in the image");
    }
    const size_t regular = target->second;
    auto [it, fresh] = first_of.emplace(files[i].target, std::min(i, regular));
    if (!fresh) it->second = std::min(it->second, i);
  }
  for (const auto& [walked, first] : first_of) {
    const size_t regular = index.at(walked);
    if (first != regular) {
      // Move the content to the earlier name; the walked one becomes a link to it.
      FileEntry& to = files[first];
      FileEntry& from = files[regular];
      to.kind = FileKind::kRegular;
      to.size = from.size;
      to.chunks = std::move(from.chunks);
      to.xattrs = std::move(from.xattrs);
      to.target.clear();
      from.kind = FileKind::kHardlink;
      from.size = 0;
      from.chunks.clear();
      from.xattrs.clear();
    }
    for (size_t i = 0; i < files.size(); ++i) {
      if (i != first && (files[i].path == walked ||
                         (files[i].kind == FileKind::kHardlink && files[i].target == walked))) {
        files[i].kind = FileKind::kHardlink;
        files[i].target = files[first].path;
      }
    }
  }
  Manifest out = *manifest;
  out.files = std::move(files);
  if (Status s = Validate(out, options.rules); !s.ok()) return s;
  *manifest = std::move(out);
  return Status::Ok();
}

}  // namespace

Status ImportDirectory(const std::string& root, const ImportOptions& options, ChunkStore* store,
                       Manifest* manifest, ImportStats* stats) {
  if (Status s = options.chunker.Validate(); !s.ok()) return s;
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("'" + root + "' is not a directory");
  }
  *stats = ImportStats{};
  ChunkWriter writer(store, kWriterThreads);
  Walker walker(root, options, &writer, stats);
  std::vector<FileEntry> files;
  Status walked = walker.Walk("", &files);
  Status written = writer.Finish(stats);
  if (!walked.ok()) return walked;
  if (!written.ok()) return written;
  if (Status s = RefuseSetuid(walker.setuid()); !s.ok()) return s;
  return Finish(std::move(files), options, manifest);
}

Status ImportArchive(const std::string& path, const ImportOptions& options, ChunkStore* store,
                     Manifest* manifest, ImportStats* stats) {
  if (Status s = options.chunker.Validate(); !s.ok()) return s;
  *stats = ImportStats{};
  std::unique_ptr<archive, int (*)(archive*)> reader(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(reader.get());
  archive_read_support_format_tar(reader.get());
  archive_read_support_format_gnutar(reader.get());
  if (archive_read_open_filename(reader.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Status::InvalidArgument("cannot read archive '" + path +
                                   "': " + archive_error_string(reader.get()));
  }
  const Chunker chunker(options.chunker);
  ChunkWriter writer(store, kWriterThreads);
  std::vector<uint8_t> buffer;
  std::map<std::string, FileEntry> files;  // later entries for the same path win, as in tar
  std::vector<std::string> setuid;         // setuid and setgid files found (when not allowed)
  auto fail = [&](const std::string& what) {
    return Status::InvalidArgument("archive '" + path + "': " + what);
  };
  for (;;) {
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(reader.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return fail(std::string("truncated or corrupt: ") + archive_error_string(reader.get()));
    }
    const char* raw = archive_entry_pathname(entry);
    auto name = NormalizeArchivePath(raw == nullptr ? "" : raw);
    if (!name.ok()) return fail(name.status().message());
    if (name->empty()) continue;  // the root itself
    FileEntry file;
    file.path = *name;
    file.mode = archive_entry_perm(entry) & 07777;
    file.uid = static_cast<uint32_t>(archive_entry_uid(entry));
    file.gid = static_cast<uint32_t>(archive_entry_gid(entry));
    file.mtime_ns =
        int64_t{archive_entry_mtime(entry)} * 1'000'000'000 + archive_entry_mtime_nsec(entry);
    const mode_t type = archive_entry_filetype(entry);
    if ((file.mode & 06000) != 0 && !options.rules.allow_setuid && type != AE_IFDIR &&
        type != AE_IFLNK) {
      setuid.push_back(file.path);  // refused with the others once the whole archive is read
    }
    if (const char* link = archive_entry_hardlink(entry); link != nullptr) {
      auto target = NormalizeArchivePath(link);
      if (!target.ok() || target->empty()) {
        return fail("hard link '" + file.path + "' has a bad target");
      }
      file.kind = FileKind::kHardlink;
      file.target = *target;
    } else if (type == AE_IFDIR) {
      file.kind = FileKind::kDirectory;
      file.mode &= 01777;
    } else if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      file.kind = FileKind::kSymlink;
      file.mode = 0777;
      file.target = target == nullptr ? "" : target;
      if (Status s = ValidateLinkTarget(file.path, file.target); !s.ok()) return fail(s.message());
    } else if (type == AE_IFREG) {
      file.kind = FileKind::kRegular;
      if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0 ||
          static_cast<uint64_t>(archive_entry_size(entry)) > kMaxFileBytes) {
        return fail("'" + file.path + "' has an absurd size");
      }
      file.size = static_cast<uint64_t>(archive_entry_size(entry));
      ++stats->files;
      stats->bytes += file.size;
      auto read = [&](uint8_t* into, size_t room) -> Result<size_t> {
        const la_ssize_t n = archive_read_data(reader.get(), into, room);
        if (n < 0) {
          return fail(std::string("truncated or corrupt: ") + archive_error_string(reader.get()));
        }
        return static_cast<size_t>(n);
      };
      if (Status s = ChunkStream(read, chunker, &writer, &buffer, &file, stats); !s.ok()) return s;
      if (TotalOf(file) != file.size) return fail("'" + file.path + "' is truncated");
    } else if (UnderDev(file.path)) {
      ++stats->devices_skipped;
      continue;
    } else {
      return fail("'" + file.path + "' is a device node, FIFO or socket: not allowed in an image");
    }
    archive_entry_xattr_reset(entry);
    const char* xattr_name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &xattr_name, &value, &size) == ARCHIVE_OK) {
      file.xattrs.emplace_back(xattr_name, std::string(static_cast<const char*>(value), size));
    }
    std::sort(file.xattrs.begin(), file.xattrs.end());
    files[file.path] = std::move(file);
  }
  // Archives often omit directories above their files: add them, as tar would create them.
  std::vector<std::string> missing;
  for (const auto& [p, file] : files) {
    for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
      const std::string parent = p.substr(0, slash);
      if (!files.contains(parent)) missing.push_back(parent);
    }
  }
  for (const std::string& parent : missing) {
    FileEntry dir;
    dir.path = parent;
    dir.kind = FileKind::kDirectory;
    dir.mode = 0755;
    files.emplace(parent, std::move(dir));
  }
  if (Status s = writer.Finish(stats); !s.ok()) return s;
  if (Status s = RefuseSetuid(setuid); !s.ok()) return fail(s.message());
  std::vector<FileEntry> list;
  list.reserve(files.size());
  for (auto& [p, file] : files) list.push_back(std::move(file));
  return Finish(std::move(list), options, manifest);
}

}  // namespace starling::images
