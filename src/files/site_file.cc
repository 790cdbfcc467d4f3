#include "src/files/site_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

namespace starling::files {
namespace {

constexpr size_t kMaxFilePath = 1024;

int OpenBeneath(int dir, const std::string& path, uint64_t flags, uint64_t mode = 0) {
  open_how how{};
  how.flags = flags | O_CLOEXEC | O_NOFOLLOW;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how));
}

Status Errno(const std::string& what, const std::string& path) {
  const int error = errno;
  if (error == ENOENT) return Status::NotFound("no " + path + " in the site's files");
  if (error == ELOOP || error == EXDEV || error == ENOTDIR) {
    return Status::FailedPrecondition(path +
                                      " goes through a symbolic link or out of the site's "
                                      "files: refused");
  }
  return Status::IoError(what + " " + path + ": " + std::strerror(error));
}

// The persisted directory itself cannot be opened: made when a copy of the site first starts.
Status NoDir(const std::string& path) {
  if (errno == ENOENT) {
    return Status::NotFound("no " + path +
                            ": its persisted directory is made when a copy of the "
                            "site first starts");
  }
  return Status::IoError("cannot open the persisted directory of " + path + ": " +
                         std::strerror(errno));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

Result<std::string> NormalizeFilePath(std::string_view path) {
  const std::string shown(path.substr(0, 200));
  if (path.empty() || path.size() > kMaxFilePath) {
    return Status::InvalidArgument("a file's path must be 1-" + std::to_string(kMaxFilePath) +
                                   " bytes");
  }
  if (path.front() == '/') {
    return Status::InvalidArgument("'" + shown + "' must be relative to the site's files");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Status::InvalidArgument("'" + shown + "' may not have empty, '.' or '..' parts");
    }
    const bool plain = std::all_of(part.begin(), part.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    });
    if (!plain) {
      return Status::InvalidArgument("'" + shown +
                                     "' may hold only A-Z, a-z, 0-9, '.', '_', '-' and '/'");
    }
    start = end + 1;
  }
  return std::string(path);
}

Result<int> OpenSiteFile(const std::string& site_dir, const std::string& path,
                         const std::string& shown) {
  auto checked = NormalizeFilePath(path);
  if (!checked.ok()) return checked.status();
  const std::string normal_name = shown.empty() ? *checked : shown;
  const std::string* normal = &normal_name;
  Fd dir(::open(site_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return NoDir(*normal);
  // Non-blocking: a FIFO a site planted opens at once (and is refused below) instead of
  // holding the request's thread until a writer comes.
  Fd file(OpenBeneath(dir.get(), *checked, O_RDONLY | O_NONBLOCK));
  if (file.get() < 0) return Errno("cannot open", *normal);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return Errno("cannot stat", *normal);
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition(*normal + " is not a regular file");
  }
  const int flags = ::fcntl(file.get(), F_GETFL);
  if (flags < 0 || ::fcntl(file.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return Errno("cannot read", *normal);
  }
  return file.release();
}

Result<uint64_t> PutSiteFile(const std::string& site_dir, const std::string& path,
                             const std::string& from, const std::string& shown) {
  auto checked = NormalizeFilePath(path);
  if (!checked.ok()) return checked.status();
  const size_t slash = checked->rfind('/');
  const std::string parent = slash == std::string::npos ? "." : checked->substr(0, slash);
  const std::string name = slash == std::string::npos ? *checked : checked->substr(slash + 1);
  const std::string normal_name = shown.empty() ? *checked : shown;
  const std::string* normal = &normal_name;
  Fd root(::open(site_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return NoDir(*normal);
  Fd dir(parent == "." ? ::dup(root.get()) : OpenBeneath(root.get(), parent, O_PATH | O_DIRECTORY));
  if (dir.get() < 0) return Errno("cannot open the directory of", *normal);
  struct stat owner {};
  if (::fstat(dir.get(), &owner) != 0) return Errno("cannot stat the directory of", *normal);
  Fd source(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (source.get() < 0) return Errno("cannot read", from);
  const std::string aside = ".starling-put-" + std::to_string(std::random_device{}()) + "-" + name;
  Fd out(::openat(dir.get(), aside.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0660));
  if (out.get() < 0) return Errno("cannot write", *normal);
  uint64_t written = 0;
  char buffer[1 << 16];
  Status status = Status::Ok();
  for (;;) {
    const ssize_t n = ::read(source.get(), buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0 || ::write(out.get(), buffer, static_cast<size_t>(n)) != n) {
      status = Errno("cannot write", *normal);
      break;
    }
    written += static_cast<uint64_t>(n);
  }
  if (status.ok() && (::fchown(out.get(), owner.st_uid, owner.st_gid) != 0 ||
                      ::fchmod(out.get(), 0660) != 0 || ::fsync(out.get()) != 0)) {
    status = Errno("cannot finish", *normal);
  }
  if (status.ok() && ::renameat(dir.get(), aside.c_str(), dir.get(), name.c_str()) != 0) {
    status = Errno("cannot rename into", *normal);
  }
  if (!status.ok()) {
    ::unlinkat(dir.get(), aside.c_str(), 0);
    return status;
  }
  return written;
}

}  // namespace starling::files
