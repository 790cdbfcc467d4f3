#include "src/images/overlay.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "src/images/idmap.h"

namespace starling::images {

namespace {

// The id-mapped view of layer `i` under `copy_dir`.
std::string LowerPath(const std::string& copy_dir, size_t i) {
  return copy_dir + (i == 0 ? "/lower" : "/lower-" + std::to_string(i));
}

}  // namespace

Result<OverlayMount> MountOverlay(const std::string& image, const std::string& copy_dir,
                                  uint32_t id_base) {
  return MountOverlay(std::vector<std::string>{image}, copy_dir, id_base);
}

Result<OverlayMount> MountOverlay(const std::vector<std::string>& layers,
                                  const std::string& copy_dir, uint32_t id_base) {
  if (layers.empty() || layers.size() > kMaxLayers) {
    return Status::InvalidArgument("a copy's root has 1 to " + std::to_string(kMaxLayers) +
                                   " layers");
  }
  OverlayMount mount{copy_dir + "/root", copy_dir + "/upper", {}};
  const std::string work = copy_dir + "/work";
  // Paths with these characters would be misread inside the option string.
  std::vector<std::string> checked = layers;
  checked.push_back(mount.upper);
  checked.push_back(work);
  for (const std::string& path : checked) {
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
  // of the host's other users: its directory is the agent's alone (and, in a user namespace, its
  // root's group may pass through it, to reach its root). The root inside stays 0755.
  if (::chmod(copy_dir.c_str(), id_base == 0 ? 0700 : 0710) != 0) {
    return Status::IoError("cannot restrict '" + copy_dir + "': " + std::strerror(errno));
  }
  std::vector<std::string> lowers = layers;
  if (id_base != 0) {
    if (::chown(copy_dir.c_str(), 0, id_base) != 0 ||
        ::chown(mount.upper.c_str(), id_base, id_base) != 0 ||
        ::chown(work.c_str(), id_base, id_base) != 0) {
      return Status::IoError("cannot give '" + copy_dir +
                             "' to its copy's ids: " + std::strerror(errno));
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string view = LowerPath(copy_dir, i);
      if (::mkdir(view.c_str(), 0700) != 0 && errno != EEXIST) {
        const Status failed =
            Status::IoError("cannot create '" + view + "': " + std::strerror(errno));
        UnmountOverlay(mount).IgnoreError();
        return failed;
      }
      if (Status s = MountIdmapped(layers[i], view, id_base); !s.ok()) {
        UnmountOverlay(mount).IgnoreError();
        return s;
      }
      mount.lowers.push_back(view);
      lowers[i] = view;
    }
  }
  std::string lowerdir;
  for (const std::string& lower : lowers) lowerdir += (lowerdir.empty() ? "" : ":") + lower;
  const std::string options =
      "lowerdir=" + lowerdir + ",upperdir=" + mount.upper + ",workdir=" + work;
  // nosuid: a setuid file gives nothing, whether it came in the image or the copy wrote it.
  if (::mount("overlay", mount.root.c_str(), "overlay", MS_NODEV | MS_NOSUID, options.c_str()) !=
      0) {
    const int error = errno;
    for (const std::string& view : mount.lowers) ::umount2(view.c_str(), MNT_DETACH);
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

namespace {

// Unmounts `path`; one still busy is detached (gone from the tree at once, freed when unused).
Status Unmount(const std::string& path) {
  if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0 || errno == EINVAL || errno == ENOENT) {
    return Status::Ok();
  }
  const int error = errno;
  if (::umount2(path.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) == 0) return Status::Ok();
  return Status::IoError("cannot unmount '" + path + "': " + std::strerror(error));
}

}  // namespace

OverlayMount OverlayOf(const std::string& copy_dir) {
  OverlayMount mount{copy_dir + "/root", copy_dir + "/upper", {}};
  for (size_t i = 0; i < kMaxLayers; ++i) mount.lowers.push_back(LowerPath(copy_dir, i));
  return mount;
}

Status RemoveCopyDir(const std::string& copy_dir) {
  if (Status s = UnmountOverlay(OverlayOf(copy_dir)); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::remove_all(copy_dir, ec);
  return Status::Ok();
}

Status UnmountOverlay(const OverlayMount& mount) {
  // Both, whatever the first says: a view of the image left mounted under the copy's directory
  // must never meet the removal of that directory.
  Status result = Unmount(mount.root);
  for (const std::string& view : mount.lowers) {
    if (Status s = Unmount(view); !s.ok() && result.ok()) result = s;
  }
  return result;
}

}  // namespace starling::images
