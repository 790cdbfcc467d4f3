// [unit] test of a copy's overlay root: reads come from the image, writes stay in the copy.
#include "src/images/overlay.h"

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

}  // namespace
}  // namespace starling::images
