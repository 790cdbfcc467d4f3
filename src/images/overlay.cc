#include "src/images/overlay.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace starling::images {

Result<OverlayMount> MountOverlay(const std::string& image, const std::string& copy_dir) {
  OverlayMount mount{copy_dir + "/root", copy_dir + "/upper"};
  const std::string work = copy_dir + "/work";
  // Paths with these characters would be misread inside the option string.
  for (const std::string& path : {image, mount.upper, work}) {
    if (path.find_first_of(",:\\") != std::string::npos) {
      return Status::InvalidArgument("overlay paths may not contain ',', ':' or a backslash: '" +
                                     path + "'");
    }
  }
  for (const std::string& dir : {copy_dir, mount.root, mount.upper, work}) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::IoError("cannot create '" + dir + "': " + std::strerror(errno));
    }
  }
  // The copy's own files (what its code wrote in the upper dir, setuid or not) are out of reach
  // of the host's other users: its directory is the agent's alone. (The root inside stays 0755.)
  if (::chmod(copy_dir.c_str(), 0700) != 0) {
    return Status::IoError("cannot restrict '" + copy_dir + "': " + std::strerror(errno));
  }
  const std::string options = "lowerdir=" + image + ",upperdir=" + mount.upper + ",workdir=" + work;
  // nosuid: a setuid file gives nothing, whether it came in the image or the copy wrote it.
  if (::mount("overlay", mount.root.c_str(), "overlay", MS_NODEV | MS_NOSUID, options.c_str()) !=
      0) {
    const int error = errno;
    if (error == EPERM || error == ENODEV || error == EINVAL) {
      return Status::Unavailable("overlayfs unavailable for '" + mount.root + "' (" +
                                 std::strerror(error) +
                                 "): run the agent as root on a kernel with overlayfs, or choose "
                                 "the copying fallback explicitly");
    }
    return Status::IoError("cannot mount the overlay at '" + mount.root +
                           "': " + std::strerror(error));
  }
  return mount;
}

Status UnmountOverlay(const OverlayMount& mount) {
  if (::umount2(mount.root.c_str(), UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
    return Status::IoError("cannot unmount '" + mount.root + "': " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace starling::images
