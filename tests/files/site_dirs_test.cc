// [unit] a site's persisted directories (src/files/site_dirs.h): where they are on the mount,
// where they go in a copy, and who owns them — made on a real directory standing in for the mount.
#include "src/files/site_dirs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

namespace starling::files {
namespace {

namespace fs = std::filesystem;

TEST_CASE("a site's persisted paths bind from its directory on the mount to its docroot",
          "[unit]") {
  const auto binds =
      PersistBinds("/d/files", "shop", "/var/www/html", {"data", "wp-content/uploads"}, 33);
  REQUIRE(binds.size() == 2);
  CHECK(binds[0].source == "/d/files/sites/shop/data");
  CHECK(binds[0].destination == "/var/www/html/data");
  CHECK(binds[1].source == "/d/files/sites/shop/wp-content/uploads");
  CHECK(binds[1].destination == "/var/www/html/wp-content/uploads");
  CHECK(binds[1].owner == 33);
  // A whole-root image: relative to /.
  CHECK(PersistBinds("/d/files", "shop", "/", {"data"}, 0)[0].destination == "/data");
}

TEST_CASE("a site's persisted directories are made once, the copy user's, 2770", "[unit]") {
  REQUIRE(::geteuid() == 0);  // chown to another user
  char pattern[] = "/tmp/starling-sitedirs-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string mount = pattern;
  const auto binds = PersistBinds(mount, "shop", "/var/www/html", {"a/b", "c"}, 33);
  REQUIRE(PrepareDirs(binds, 200000).ok());
  struct stat st {};
  REQUIRE(::stat((mount + "/sites/shop/a/b").c_str(), &st) == 0);
  CHECK(st.st_uid == 200033);
  CHECK(st.st_gid == 200033);
  CHECK((st.st_mode & 07777) == 02770);
  REQUIRE(::stat((mount + "/sites/shop/a").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);  // above the persisted one: the host's
  CHECK((st.st_mode & 0777) == 0711);
  // Again: nothing changes, nothing fails (files written there stay).
  {
    std::FILE* f = std::fopen((mount + "/sites/shop/c/kept").c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
  }
  REQUIRE(PrepareDirs(binds, 200000).ok());
  CHECK(fs::exists(mount + "/sites/shop/c/kept"));
  // A file where a directory should be is refused.
  fs::remove_all(mount + "/sites/shop/c");
  {
    std::FILE* f = std::fopen((mount + "/sites/shop/c").c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
  }
  CHECK_FALSE(PrepareDirs(binds, 200000).ok());
  fs::remove_all(mount);
}

}  // namespace
}  // namespace starling::files
