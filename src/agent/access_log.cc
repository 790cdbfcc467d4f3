#include "src/agent/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace starling::agent {

AccessLogTailer::AccessLogTailer(std::string path, bool from_end)
    : path_(std::move(path)), from_end_(from_end) {}

AccessLogTailer::~AccessLogTailer() {
  if (fd_ >= 0) ::close(fd_);
}

bool AccessLogTailer::Open(bool at_end) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return false;
  }
  fd_ = fd;
  device_ = st.st_dev;
  inode_ = st.st_ino;
  offset_ = at_end ? st.st_size : 0;
  return true;
}

void AccessLogTailer::ReadToEnd(std::vector<std::string>* lines) {
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::pread(fd_, buffer, sizeof buffer, offset_);
    if (n <= 0) return;
    offset_ += n;
    for (auto& line : splitter_.Feed(std::string_view(buffer, static_cast<size_t>(n)))) {
      lines->push_back(std::move(line));
    }
  }
}

std::vector<std::string> AccessLogTailer::Poll() {
  std::vector<std::string> lines;
  if (fd_ < 0) {
    const bool at_end = from_end_;
    from_end_ = false;  // only what exists at the first look is skipped; later files are new
    if (!Open(at_end)) return lines;
  }
  ReadToEnd(&lines);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return lines;  // renamed, the new one not there yet
  if (st.st_dev != device_ || st.st_ino != inode_) {
    // Rotated: the old file was read to its end above; the new one from its start.
    ::close(fd_);
    fd_ = -1;
    ++rotations_;
    if (Open(/*at_end=*/false)) ReadToEnd(&lines);
  } else if (st.st_size < offset_) {
    offset_ = 0;  // truncated in place (copytruncate)
    ++rotations_;
    ReadToEnd(&lines);
  }
  return lines;
}

}  // namespace starling::agent
