// A copy's own files give the host nothing (issue 16): a setuid-root program written into a
// copy's root is out of reach of the host's other users (its directory is the agent's alone),
// and the copy's root is mounted nosuid and nodev, so inside the copy it elevates nothing either.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "src/images/overlay.h"

namespace starling::images {
namespace {

namespace fs = std::filesystem;

// Whether uid/gid 65534 (nobody) can reach `path` to execute it, asked in a child process.
bool NobodyCanExecute(const fs::path& path) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    ::_exit(::access(path.c_str(), X_OK) == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 2);
  return WEXITSTATUS(status) == 0;
}

TEST_CASE("Copies: a setuid file a copy writes is no privilege on the host", "[security]") {
  if (::geteuid() != 0) {
    WARN("not root: overlay mounts not exercised");
    return;
  }
  const fs::path base = fs::temp_directory_path() / ("starling-suid-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "image/bin");
  fs::permissions(base, fs::perms(0755));
  auto mount = MountOverlay((base / "image").string(), (base / "copy").string());
  if (!mount.ok() && mount.status().code() == StatusCode::kUnavailable) {
    WARN(mount.status().message());
    fs::remove_all(base);
    return;
  }
  REQUIRE(mount.ok());
  // What the copy's code (root inside) does: a setuid-root shell in its root.
  const fs::path shell = fs::path(mount->root) / "bin" / "rootshell";
  fs::copy_file("/bin/sh", shell);
  REQUIRE(::chmod(shell.c_str(), 04755) == 0);
  // The copy's root: no setuid, no device nodes honoured.
  struct statvfs root {};
  REQUIRE(::statvfs(mount->root.c_str(), &root) == 0);
  CHECK((root.f_flag & ST_NOSUID) != 0);
  CHECK((root.f_flag & ST_NODEV) != 0);
  // The host's nobody reaches neither the merged root nor the upper dir the file lies in.
  struct stat dir {};
  REQUIRE(::stat((base / "copy").c_str(), &dir) == 0);
  CHECK((dir.st_mode & 0777) == 0700);
  CHECK_FALSE(NobodyCanExecute(shell));
  CHECK_FALSE(NobodyCanExecute(fs::path(mount->upper) / "bin" / "rootshell"));
  CHECK(NobodyCanExecute("/bin/sh"));  // the probe itself works
  REQUIRE(UnmountOverlay(*mount).ok());
  fs::remove_all(base);
}

}  // namespace
}  // namespace starling::images
