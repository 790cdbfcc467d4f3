#include "store/images/paths.h"

#include <vector>

namespace starling::images {
namespace {

std::string Shown(std::string_view path) {
  std::string shown;
  for (char c : path.substr(0, 200)) shown += c == '\0' ? '?' : c;
  return shown;
}

}  // namespace

Status ValidateImagePath(std::string_view path) {
  if (path.empty()) return Status::InvalidArgument("empty path");
  if (path.size() > kMaxPathBytes) {
    return Status::InvalidArgument("path longer than 4096 bytes: '" + Shown(path) + "...'");
  }
  if (path.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path holds a NUL byte: '" + Shown(path) + "'");
  }
  if (path.front() == '/') return Status::InvalidArgument("absolute path: '" + Shown(path) + "'");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view name = path.substr(start, end - start);
    if (name.empty()) return Status::InvalidArgument("empty path component: '" + Shown(path) + "'");
    if (name == "." || name == "..") {
      return Status::InvalidArgument("path component '" + std::string(name) + "': '" + Shown(path) +
                                     "'");
    }
    if (name.size() > kMaxNameBytes) {
      return Status::InvalidArgument("file name longer than 255 bytes in '" + Shown(path) + "'");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Result<std::string> NormalizeArchivePath(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path holds a NUL byte: '" + Shown(path) + "'");
  }
  if (!path.empty() && path.front() == '/') {
    return Status::InvalidArgument("absolute path: '" + Shown(path) + "'");
  }
  while (path.starts_with("./")) path.remove_prefix(2);
  while (path.ends_with("/")) path.remove_suffix(1);
  if (path == ".") path = "";
  std::string out(path);
  if (out.empty()) return out;  // the root
  if (Status s = ValidateImagePath(out); !s.ok()) return s;
  return out;
}

Status ValidateLinkTarget(std::string_view link_path, std::string_view target) {
  if (target.empty())
    return Status::InvalidArgument("empty link target at '" + Shown(link_path) + "'");
  if (target.size() > kMaxPathBytes || target.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("bad link target at '" + Shown(link_path) + "'");
  }
  // Depth below the root while walking the target lexically.
  std::vector<std::string_view> stack;
  if (target.front() != '/') {
    std::string_view dir = link_path;
    const size_t slash = dir.rfind('/');
    dir = slash == std::string_view::npos ? std::string_view() : dir.substr(0, slash);
    size_t start = 0;
    while (!dir.empty() && start <= dir.size()) {
      size_t end = dir.find('/', start);
      if (end == std::string_view::npos) end = dir.size();
      stack.push_back(dir.substr(start, end - start));
      start = end + 1;
    }
  }
  size_t start = 0;
  while (start <= target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view name = target.substr(start, end - start);
    start = end + 1;
    if (name.empty() || name == ".") continue;
    if (name == "..") {
      if (stack.empty()) {
        return Status::InvalidArgument("link '" + Shown(link_path) + "' -> '" + Shown(target) +
                                       "' escapes the image root");
      }
      stack.pop_back();
      continue;
    }
    stack.push_back(name);
  }
  return Status::Ok();
}

}  // namespace starling::images
