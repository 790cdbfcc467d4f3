// ImportArchive (importer.h): a tar archive, streamed member by member through libarchive.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "src/images/chunk_writer.h"
#include "src/images/import_rules.h"
#include "src/images/importer.h"
#include "store/images/paths.h"

namespace starling::images {

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
  std::error_code size_error;
  const uint64_t archive_bytes = std::filesystem::file_size(path, size_error);
  ImportBudget budget(options.limits, size_error ? 1 : archive_bytes);
  ChunkWriter writer(store, kImportWriterThreads);
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
      if (Status s = budget.Admit(file.path, file.size); !s.ok()) return s;
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
    // By name: a pax header may carry one attribute twice (LIBARCHIVE.xattr and SCHILY.xattr).
    std::map<std::string, std::string> xattrs;
    std::set<std::string> dropped;
    archive_entry_xattr_reset(entry);
    const char* xattr_name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &xattr_name, &value, &size) == ARCHIVE_OK) {
      if (!IsImageXattr(xattr_name)) {
        dropped.insert(xattr_name);  // trusted.*, security.*: never applied on a node
        continue;
      }
      xattrs[xattr_name] = std::string(static_cast<const char*>(value), size);
    }
    stats->xattrs_dropped += dropped.size();
    file.xattrs.assign(xattrs.begin(), xattrs.end());
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
  return FinishManifest(std::move(list), options, manifest);
}

}  // namespace starling::images
