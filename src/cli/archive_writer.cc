#include "src/cli/archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

namespace starling::cli {
namespace {

using Archive = std::unique_ptr<archive, int (*)(archive*)>;
using Resolver = std::unique_ptr<archive_entry_linkresolver, void (*)(archive_entry_linkresolver*)>;

Status Failed(const std::string& what, archive* a) {
  const char* why = archive_error_string(a);
  return Status::IoError(what + ": " + (why == nullptr ? "unknown error" : why));
}

// Writes `entry` (and, for a regular file not linked to an earlier one, its data from `disk`).
Status WriteEntry(archive* disk, archive* out, archive_entry* entry, std::vector<char>* buffer) {
  if (archive_write_header(out, entry) != ARCHIVE_OK) {
    return Failed(std::string("cannot write ") + archive_entry_pathname(entry), out);
  }
  if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != nullptr ||
      archive_entry_size(entry) == 0) {
    return Status::Ok();
  }
  for (;;) {
    const la_ssize_t n = archive_read_data(disk, buffer->data(), buffer->size());
    if (n == 0) return Status::Ok();
    if (n < 0) return Failed(std::string("cannot read ") + archive_entry_sourcepath(entry), disk);
    if (archive_write_data(out, buffer->data(), static_cast<size_t>(n)) != n) {
      return Failed("cannot write the archive", out);
    }
  }
}

}  // namespace

Result<std::string> ArchiveDirectory(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::InvalidArgument("'" + dir + "' is not a directory");
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string path =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/starling-push-XXXXXX";
  const int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot make a temporary file in " + path);
  Archive out(archive_write_new(), archive_write_free);
  Archive disk(archive_read_disk_new(), archive_read_free);
  Resolver links(archive_entry_linkresolver_new(), archive_entry_linkresolver_free);
  archive_write_set_format_pax_restricted(out.get());
  // Names are bytes on Linux: kept as they are, whatever the locale (Debian's CA certificates
  // have names that are not ASCII; in the C locale they cannot be "translated" to UTF-8).
  archive_write_set_format_option(out.get(), "pax", "hdrcharset", "BINARY");
  archive_write_add_filter_zstd(out.get());
  archive_entry_linkresolver_set_strategy(links.get(), archive_format(out.get()));
  archive_read_disk_set_symlink_physical(disk.get());  // links are kept as links
  archive_read_disk_set_standard_lookup(disk.get());
  auto fail = [&](Status s) -> Result<std::string> {
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  };
  if (archive_write_open_fd(out.get(), fd) != ARCHIVE_OK) {
    return fail(Failed("cannot start the archive", out.get()));
  }
  if (archive_read_disk_open(disk.get(), dir.c_str()) != ARCHIVE_OK) {
    return fail(Failed("cannot read " + dir, disk.get()));
  }
  // Under a prefix (a stack's docroot), its directories come first, root's and 0755: the server
  // in the stack must be able to walk to the site's tree.
  std::filesystem::path under;
  for (const auto& part : std::filesystem::path(prefix).relative_path()) {
    under /= part;
    archive_entry* parent = archive_entry_new();
    archive_entry_set_pathname(parent, under.string().c_str());
    archive_entry_set_filetype(parent, AE_IFDIR);
    archive_entry_set_perm(parent, 0755);
    archive_entry_set_uid(parent, 0);
    archive_entry_set_gid(parent, 0);
    archive_entry_set_mtime(parent, 0, 0);
    const bool written = archive_write_header(out.get(), parent) == ARCHIVE_OK;
    archive_entry_free(parent);
    if (!written) return fail(Failed("cannot write " + under.string(), out.get()));
  }
  const std::string root = std::filesystem::path(dir).lexically_normal().string();
  std::vector<char> buffer(1 << 20);
  for (;;) {
    archive_entry* entry = archive_entry_new();
    const int r = archive_read_next_header2(disk.get(), entry);
    if (r == ARCHIVE_EOF) {
      archive_entry_free(entry);
      break;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      archive_entry_free(entry);
      return fail(Failed("cannot walk " + dir, disk.get()));
    }
    archive_read_disk_descend(disk.get());
    // Names relative to the tree's root, which itself is not written.
    std::string name = std::filesystem::path(archive_entry_pathname(entry)).lexically_normal();
    name = std::filesystem::path(name).lexically_relative(root).string();
    if (name.empty() || name == ".") {
      archive_entry_free(entry);
      continue;
    }
    if (!under.empty()) name = (under / name).string();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry* later = nullptr;
    archive_entry_linkify(links.get(), &entry, &later);
    Status written =
        entry == nullptr ? Status::Ok() : WriteEntry(disk.get(), out.get(), entry, &buffer);
    if (entry != nullptr) archive_entry_free(entry);
    if (!written.ok()) return fail(written);
    if (later != nullptr) {
      written = WriteEntry(disk.get(), out.get(), later, &buffer);
      archive_entry_free(later);
      if (!written.ok()) return fail(written);
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return fail(Failed("cannot finish the archive", out.get()));
  }
  ::close(fd);
  return path;
}

}  // namespace starling::cli
