#include "src/images/import_rules.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <map>

namespace starling::images {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kExpansionFloorBytes = 64 * kMiB;  // small archives expand as they like
constexpr uint64_t kDiskCheckEveryBytes = 64 * kMiB;

std::string MiB(uint64_t bytes) { return std::to_string((bytes + kMiB - 1) / kMiB) + " MiB"; }

}  // namespace

ImportBudget::ImportBudget(const ImportLimits& limits, uint64_t archive_bytes)
    : limits_(limits), archive_bytes_(archive_bytes) {}

Status ImportBudget::Admit(const std::string& path, uint64_t size) {
  admitted_ += size;
  if (limits_.max_bytes > 0 && admitted_ > limits_.max_bytes) {
    return Status::ResourceExhausted("the image is over its quota of " + MiB(limits_.max_bytes) +
                                     " at '" + path +
                                     "' (the site's image_quota_mb, or images.max_image_mb)");
  }
  if (archive_bytes_ > 0 && limits_.max_expansion > 0 && admitted_ > kExpansionFloorBytes &&
      admitted_ / limits_.max_expansion > archive_bytes_) {
    return Status::InvalidArgument("the archive (" + MiB(archive_bytes_) + ") expands to over " +
                                   MiB(admitted_) + " at '" + path + "', more than " +
                                   std::to_string(limits_.max_expansion) +
                                   " times its size (images.max_expansion): refused as a bomb");
  }
  if (limits_.min_free_bytes > 0 && admitted_ >= next_disk_check_) {
    next_disk_check_ = admitted_ + kDiskCheckEveryBytes;
    return CheckDisk(path, size);
  }
  return Status::Ok();
}

Status ImportBudget::CheckDisk(const std::string& path, uint64_t upcoming) {
  struct statvfs disk {};
  if (::statvfs(limits_.disk_path.c_str(), &disk) != 0) return Status::Ok();  // cannot tell
  const uint64_t free_bytes = uint64_t{disk.f_bavail} * disk.f_frsize;
  if (free_bytes < limits_.min_free_bytes + upcoming) {
    return Status::ResourceExhausted(
        "the disk holding " + limits_.disk_path + " has " + MiB(free_bytes) + " free, and '" +
        path + "' needs " + MiB(upcoming) + " more than the " + MiB(limits_.min_free_bytes) +
        " kept free (images.min_free_mb)");
  }
  return Status::Ok();
}

bool UnderDev(const std::string& path) { return path.starts_with("dev/"); }

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

Status FinishManifest(std::vector<FileEntry> files, const ImportOptions& options,
                      Manifest* manifest) {
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

}  // namespace starling::images
