// [unit] test of a copy's overlay root: reads come from the image, writes stay in the copy.
#include "src/images/overlay.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace starling::images {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST_CASE("a copy's overlay reads the image and keeps its writes to itself", "[unit]") {
  if (::geteuid() != 0) {
    WARN("not root: overlay mounts not exercised");
    return;
  }
  const fs::path base =
      fs::temp_directory_path() / ("starling-overlay-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "image/www");
  std::ofstream(base / "image/www/index.html") << "from the image";
  auto mount = MountOverlay((base / "image").string(), (base / "copy-1").string());
  if (!mount.ok() && mount.status().code() == StatusCode::kUnavailable) {
    WARN(mount.status().message());
    fs::remove_all(base);
    return;
  }
  REQUIRE(mount.ok());
  CHECK(Read(fs::path(mount->root) / "www/index.html") == "from the image");
  std::ofstream(fs::path(mount->root) / "www/index.html") << "changed by the copy";
  std::ofstream(fs::path(mount->root) / "www/upload.txt") << "new";
  CHECK(Read(fs::path(mount->root) / "www/index.html") == "changed by the copy");
  REQUIRE(UnmountOverlay(*mount).ok());
  CHECK(Read(base / "image/www/index.html") == "from the image");  // the image is untouched
  CHECK_FALSE(fs::exists(base / "image/www/upload.txt"));
  CHECK(Read(fs::path(mount->upper) / "www/upload.txt") == "new");
  CHECK_FALSE(fs::exists(fs::path(mount->root) / "www"));  // unmounted: the root is empty again
  CHECK(UnmountOverlay(*mount).ok());                      // twice is fine
  CHECK(MountOverlay((base / "image").string(), (base / "bad,dir").string()).status().code() ==
        StatusCode::kInvalidArgument);
  fs::remove_all(base);
}

TEST_CASE("a copy's overlay in an id range: the image's owners shifted, the copy's files its own",
          "[unit]") {
  if (::geteuid() != 0) {
    WARN("not root: overlay mounts not exercised");
    return;
  }
  const fs::path base =
      fs::temp_directory_path() / ("starling-idmap-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "image/www");
  std::ofstream(base / "image/www/index.html") << "from the image";
  REQUIRE(::chown((base / "image/www/index.html").c_str(), 33, 33) == 0);  // www-data's
  const uint32_t range = 1u << 24;
  auto mount = MountOverlay((base / "image").string(), (base / "copy-1").string(), range);
  if (!mount.ok() && mount.status().code() == StatusCode::kUnavailable) {
    WARN(mount.status().message());
    fs::remove_all(base);
    return;
  }
  REQUIRE(mount.ok());
  REQUIRE_FALSE(mount->lower.empty());
  struct stat info {};
  // Seen from the copy's root: the image's www-data file is the range's www-data's, the root
  // directory the range's root's.
  REQUIRE(::stat((fs::path(mount->root) / "www/index.html").c_str(), &info) == 0);
  CHECK(info.st_uid == range + 33);
  CHECK(info.st_gid == range + 33);
  REQUIRE(::stat(mount->upper.c_str(), &info) == 0);
  CHECK(info.st_uid == range);
  // The image itself is untouched.
  REQUIRE(::stat((base / "image/www/index.html").c_str(), &info) == 0);
  CHECK(info.st_uid == 33);
  CHECK(Read(fs::path(mount->root) / "www/index.html") == "from the image");
  REQUIRE(UnmountOverlay(*mount).ok());
  CHECK_FALSE(fs::exists(fs::path(mount->lower) / "www"));  // the mapped view is gone too
  CHECK(UnmountOverlay(*mount).ok());
  fs::remove_all(base);
}

}  // namespace
}  // namespace starling::images
