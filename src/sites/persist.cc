#include "src/sites/persist.h"

#include <algorithm>

namespace starling::sites {
namespace {

bool IsPathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Whether `inner` is `outer` or lies below it, by components.
bool Within(std::string_view inner, std::string_view outer) {
  return inner == outer ||
         (inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '/');
}

}  // namespace

Result<std::string> NormalizePersistPath(std::string_view path) {
  const std::string shown(path);
  std::string_view rest = path;
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty()) return Status::InvalidArgument("a persisted path must not be empty");
  if (rest.size() > kMaxPersistPath) {
    return Status::InvalidArgument("persisted path '" + shown + "' is longer than " +
                                   std::to_string(kMaxPersistPath) + " bytes");
  }
  if (rest.front() == '/') {
    return Status::InvalidArgument("persisted path '" + shown +
                                   "' must be relative to the site's document root");
  }
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    const std::string_view part = rest.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Status::InvalidArgument("persisted path '" + shown +
                                     "' may not have empty, '.' or '..' parts");
    }
    if (!std::all_of(part.begin(), part.end(), IsPathChar)) {
      return Status::InvalidArgument("persisted path '" + shown +
                                     "' may hold only A-Z, a-z, 0-9, '.', '_', '-' and '/'");
    }
    start = end + 1;
  }
  return std::string(rest);
}

Status ValidatePersist(const std::vector<std::string>& paths) {
  if (paths.size() > kMaxPersist) {
    return Status::InvalidArgument("a site has at most " + std::to_string(kMaxPersist) +
                                   " persisted paths");
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    auto normal = NormalizePersistPath(paths[i]);
    if (!normal.ok()) return normal.status();
    if (*normal != paths[i]) {
      return Status::InvalidArgument("persisted path '" + paths[i] + "' is not in its one form");
    }
    if (i > 0 && !(paths[i - 1] < paths[i])) {
      return Status::InvalidArgument("persisted paths must be sorted and listed once");
    }
    for (size_t j = 0; j < i; ++j) {
      if (Within(paths[i], paths[j]) || Within(paths[j], paths[i])) {
        return Status::InvalidArgument("persisted paths '" + paths[j] + "' and '" + paths[i] +
                                       "' overlap: one is inside the other");
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<std::string>> NormalizePersist(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& path : paths) {
    auto normal = NormalizePersistPath(path);
    if (!normal.ok()) return normal.status();
    out.push_back(std::move(*normal));
  }
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    return Status::InvalidArgument("a persisted path is listed twice");
  }
  if (Status s = ValidatePersist(out); !s.ok()) return s;
  return out;
}

}  // namespace starling::sites
