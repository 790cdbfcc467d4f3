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
  REQUIRE(mount->lowers.size() == 1);
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
  CHECK_FALSE(fs::exists(fs::path(mount->lowers[0]) / "www"));  // the mapped view is gone too
  CHECK(UnmountOverlay(*mount).ok());
  fs::remove_all(base);
}

TEST_CASE("a copy's root layered: a site's version over its stack, in an id range", "[unit]") {
  if (::geteuid() != 0) {
    WARN("not root: overlay mounts not exercised");
    return;
  }
  const fs::path base =
      fs::temp_directory_path() / ("starling-layers-" + std::to_string(::getpid()));
  fs::remove_all(base);
  // The stack: a program and a default page; the site: its page over the stack's, and its own.
  fs::create_directories(base / "stack/usr/bin");
  fs::create_directories(base / "stack/var/www/html");
  std::ofstream(base / "stack/usr/bin/server") << "the stack's server";
  std::ofstream(base / "stack/var/www/html/index.html") << "the stack's default page";
  fs::create_directories(base / "site/var/www/html");
  std::ofstream(base / "site/var/www/html/index.html") << "the site's page";
  std::ofstream(base / "site/var/www/html/about.html") << "about";
  const uint32_t range = 1u << 24;
  for (const uint32_t id_base : {0u, range}) {
    INFO("id base " << id_base);
    const std::string copy = (base / ("copy-" + std::to_string(id_base))).string();
    auto mount = MountOverlay({(base / "site").string(), (base / "stack").string()}, copy, id_base);
    if (!mount.ok() && mount.status().code() == StatusCode::kUnavailable) {
      WARN(mount.status().message());
      fs::remove_all(base);
      return;
    }
    REQUIRE(mount.ok());
    CHECK(mount->lowers.size() == (id_base == 0 ? 0u : 2u));
    CHECK(Read(fs::path(mount->root) / "usr/bin/server") == "the stack's server");
    CHECK(Read(fs::path(mount->root) / "var/www/html/index.html") == "the site's page");
    CHECK(Read(fs::path(mount->root) / "var/www/html/about.html") == "about");
    std::ofstream(fs::path(mount->root) / "var/www/html/upload.txt") << "written";
    REQUIRE(UnmountOverlay(OverlayOf(copy)).ok());  // as a restarted agent finds it
    CHECK_FALSE(fs::exists(fs::path(mount->root) / "usr"));
    for (const auto& view : mount->lowers) CHECK_FALSE(fs::exists(fs::path(view) / "var"));
    CHECK(Read(fs::path(mount->upper) / "var/www/html/upload.txt") == "written");
  }
  CHECK_FALSE(fs::exists(base / "site/var/www/html/upload.txt"));
  CHECK_FALSE(fs::exists(base / "stack/var/www/html/upload.txt"));
  CHECK(MountOverlay(std::vector<std::string>{}, (base / "none").string()).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(MountOverlay(std::vector<std::string>(kMaxLayers + 1, (base / "site").string()),
                     (base / "many").string())
            .status()
            .code() == StatusCode::kInvalidArgument);
  fs::remove_all(base);
}

}  // namespace
}  // namespace starling::images
