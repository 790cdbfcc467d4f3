#include "src/images/idmap.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

namespace starling::images {
namespace {

Status Errno(const std::string& what) {
  return Status::Unavailable(what + ": " + std::strerror(errno));
}

bool WriteAll(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// A user namespace mapping 0..count-1 to base..base+count-1, held open by the returned fd. A
// child makes it (unshare), waits while the maps are written and the namespace opened, and goes.
Result<int> MappedUserNamespace(uint32_t base, uint32_t count) {
  // One at a time: a second child forked meanwhile would hold this one's pipe ends (these
  // children never exec, so O_CLOEXEC does not close them) and neither would see its EOF.
  static std::mutex one_at_a_time;
  std::lock_guard lock(one_at_a_time);
  int ready[2], done[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return Errno("pipe");
  if (::pipe2(done, O_CLOEXEC) != 0) {
    ::close(ready[0]);
    ::close(ready[1]);
    return Errno("pipe");
  }
  const pid_t child = ::fork();
  if (child < 0) {
    const Status error = Errno("fork");
    for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);
    return error;
  }
  if (child == 0) {  // only system calls here: the agent has threads
    ::close(ready[0]);
    ::close(done[1]);  // so that the parent's close ends the read below
    char result = ::unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
    (void)!::write(ready[1], &result, 1);
    char ignored;
    (void)!::read(done[0], &ignored, 1);  // until the parent has what it needs
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char result = 0;
  const bool unshared = ::read(ready[0], &result, 1) == 1 && result == 1;
  ::close(ready[0]);
  int fd = -1;
  Status status = Status::Ok();
  const std::string proc = "/proc/" + std::to_string(child);
  const std::string map = "0 " + std::to_string(base) + " " + std::to_string(count) + "\n";
  if (!unshared) {
    status = Status::Unavailable("cannot make a user namespace for the id mapping");
  } else if (!WriteAll(proc + "/uid_map", map) || !WriteAll(proc + "/setgroups", "deny") ||
             !WriteAll(proc + "/gid_map", map)) {
    status = Errno("cannot write the id mapping");
  } else if ((fd = ::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
    status = Errno("cannot open the mapped user namespace");
  }
  ::close(done[1]);
  ::waitpid(child, nullptr, 0);
  if (!status.ok()) return status;
  return fd;
}

}  // namespace

Status MountIdmapped(const std::string& source, const std::string& target, uint32_t base,
                     uint32_t count) {
  auto userns = MappedUserNamespace(base, count);
  if (!userns.ok()) return userns.status();
  const int tree = ::open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) {
    const Status error = Errno("cannot clone the mount of '" + source + "'");
    ::close(*userns);
    return error;
  }
  mount_attr attributes{};
  // Read-only: overlayfs never writes to its lower layer, and nothing else may write to the
  // image through this view (it is every copy's of the site).
  attributes.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  attributes.userns_fd = static_cast<uint64_t>(*userns);
  Status status = Status::Ok();
  if (::mount_setattr(tree, "", AT_EMPTY_PATH, &attributes, sizeof attributes) != 0) {
    status = Errno("cannot map the ids of '" + source +
                   "' (idmapped mounts need Linux 5.19 and a file system that has them)");
  } else if (::move_mount(tree, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    status = Errno("cannot mount the mapped view at '" + target + "'");
  }
  ::close(tree);
  ::close(*userns);
  return status;
}

}  // namespace starling::images
