#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace starling {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string ReadTail(const std::filesystem::path& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                                   ? size - static_cast<std::streamoff>(max_bytes)
                                   : 0;
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return start > 0 ? "..." + text : text;
}

Result<std::string> ReadPrivateFile(const std::filesystem::path& path, std::string_view what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return Status::NotFound(std::string(what) + " " + path.string() + " does not exist");
  }
  if ((info.st_mode & 077) != 0) {
    return Status::PermissionDenied(std::string(what) + " " + path.string() +
                                    " may be read by others: chmod 600 it");
  }
  return ReadFile(path);
}

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents,
                           mode_t mode) {
  const std::string temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IoError("cannot write " + temporary + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string error = std::strerror(errno);
      ::close(fd);
      return Status::IoError("write " + temporary + ": " + error);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return Status::IoError("fsync " + temporary + ": " + std::strerror(errno));
  }
  if (::close(fd) != 0) return Status::IoError("close " + temporary + ": " + std::strerror(errno));
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return Status::IoError("rename to " + path.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace starling
