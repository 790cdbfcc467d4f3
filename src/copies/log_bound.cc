#include "src/copies/log_bound.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace starling::copies {

Result<bool> BoundLog(const std::string& path, uint64_t max_bytes) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return false;
    return Status::IoError("cannot stat " + path + ": " + std::strerror(errno));
  }
  if (static_cast<uint64_t>(info.st_size) <= max_bytes) return false;
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  const uint64_t keep = max_bytes / 2;
  std::vector<char> tail(keep);
  const off_t from = info.st_size - static_cast<off_t>(keep);
  size_t got = 0;
  while (got < keep) {
    const ssize_t n = ::pread(in, tail.data() + got, keep - got, from + static_cast<off_t>(got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(in);
  // The kept half, written beside and renamed over the old ".1"; its owner the log's (a copy in
  // a user namespace owns its log).
  const std::string older = path + ".1";
  const std::string partial = older + ".partial";
  const int out = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (out < 0) return Status::IoError("cannot write " + partial + ": " + std::strerror(errno));
  const bool written = ::write(out, tail.data(), got) == static_cast<ssize_t>(got) &&
                       ::fchown(out, info.st_uid, info.st_gid) == 0;
  ::close(out);
  if (!written || ::rename(partial.c_str(), older.c_str()) != 0) {
    ::unlink(partial.c_str());
    return Status::IoError("cannot keep the end of " + path + ": " + std::strerror(errno));
  }
  if (::truncate(path.c_str(), 0) != 0) {
    return Status::IoError("cannot truncate " + path + ": " + std::strerror(errno));
  }
  return true;
}

}  // namespace starling::copies
