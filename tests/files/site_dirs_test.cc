// [unit] a site's persisted directories (src/files/site_dirs.h): where they are on the mount,
// where they go in a copy, who owns them, how a new one starts from the image — made on a real
// directory standing in for the mount.
#include "src/files/site_dirs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>

namespace starling::files {
namespace {

namespace fs = std::filesystem;

void Touch(const std::string& path, const char* text = "") {
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fputs(text, f);
  std::fclose(f);
}

TEST_CASE("a site's persisted paths are flat directories of its own on the mount", "[unit]") {
  const auto binds =
      PersistBinds("/d/files", "shop", "/var/www/html", {"data", "wp-content/uploads"}, 33);
  REQUIRE(binds.size() == 2);
  CHECK(binds[0].source == "/d/files/sites/shop/data");
  CHECK(binds[0].destination == "/var/www/html/data");
  CHECK(binds[1].source == "/d/files/sites/shop/wp-content+uploads");
  CHECK(binds[1].destination == "/var/www/html/wp-content/uploads");
  CHECK(binds[1].owner == 33);
  // A whole-root image: relative to /.
  CHECK(PersistBinds("/d/files", "shop", "/", {"data"}, 0)[0].destination == "/data");
  // An operator's path: the persisted directory holding it, and the rest.
  auto located = Locate("/d/files", "shop", {"data", "wp-content/uploads"},
                        "wp-content/uploads/2026/logo.png");
  REQUIRE(located.ok());
  CHECK(located->dir == "/d/files/sites/shop/wp-content+uploads");
  CHECK(located->rest == "2026/logo.png");
  CHECK(Locate("/d/files", "shop", {"data"}, "data")->rest.empty());
  CHECK(Locate("/d/files", "shop", {"data"}, "database/x").status().code() ==
        StatusCode::kNotFound);
  CHECK(Locate("/d/files", "shop", {"data"}, "wp-config.php").status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("a site's persisted directories are made once, the copy user's, 2770", "[unit]") {
  REQUIRE(::geteuid() == 0);  // chown to another user
  char pattern[] = "/tmp/starling-sitedirs-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string mount = pattern;
  const std::string root = mount + "/root";  // the copy's root: nothing at the docroot
  fs::create_directories(root);
  const auto binds = PersistBinds(mount, "shop", "/var/www/html", {"a/b", "c"}, 33);
  REQUIRE(PrepareDirs(binds, 200000, root).ok());
  struct stat st {};
  REQUIRE(::stat((mount + "/sites/shop/a+b").c_str(), &st) == 0);
  CHECK(st.st_uid == 200033);
  CHECK(st.st_gid == 200033);
  CHECK((st.st_mode & 07777) == 02770);
  // Every directory above it is the host's: no site writes a parent of what root works on.
  for (const std::string& above : {mount + "/sites", mount + "/sites/shop"}) {
    REQUIRE(::stat(above.c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK((st.st_mode & 0777) == 0711);
  }
  // Again: nothing changes, nothing fails (files written there stay).
  Touch(mount + "/sites/shop/c/kept");
  REQUIRE(PrepareDirs(binds, 200000, root).ok());
  CHECK(fs::exists(mount + "/sites/shop/c/kept"));
  // A file where a directory should be is refused.
  fs::remove_all(mount + "/sites/shop/c");
  Touch(mount + "/sites/shop/c");
  CHECK_FALSE(PrepareDirs(binds, 200000, root).ok());
  fs::remove_all(mount);
}

TEST_CASE("a new persisted directory starts from the image's, and never from the host's",
          "[unit]") {
  REQUIRE(::geteuid() == 0);
  char pattern[] = "/tmp/starling-seed-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string mount = std::string(pattern) + "/files", root = std::string(pattern) + "/root";
  fs::create_directories(mount);
  // The image ships conf/ with a file, a subdirectory and a link; data/ does not exist in it.
  fs::create_directories(root + "/var/www/html/conf/plugins");
  Touch(root + "/var/www/html/conf/local.php", "shipped");
  fs::create_symlink("local.php", root + "/var/www/html/conf/link.php");
  const auto binds = PersistBinds(mount, "wiki", "/var/www/html", {"conf", "data"}, 33);
  const Status prepared = PrepareDirs(binds, 300000, root);
  INFO(prepared.ToString());
  REQUIRE(prepared.ok());
  const std::string conf = mount + "/sites/wiki/conf";
  REQUIRE(fs::exists(conf + "/local.php"));
  CHECK(fs::is_directory(conf + "/plugins"));
  CHECK(fs::is_symlink(conf + "/link.php"));
  struct stat st {};
  REQUIRE(::stat((conf + "/local.php").c_str(), &st) == 0);
  CHECK(st.st_uid == 300033);
  CHECK(fs::is_directory(mount + "/sites/wiki/data"));
  // Seeded once: what the site wrote since stays, the image's later files do not come back.
  fs::remove(conf + "/local.php");
  REQUIRE(PrepareDirs(binds, 300000, root).ok());
  CHECK_FALSE(fs::exists(conf + "/local.php"));
  // No seed is left aside.
  for (const auto& entry : fs::directory_iterator(mount + "/sites/wiki")) {
    CHECK_FALSE(entry.path().filename().string().starts_with(".seed"));
  }
  // An image whose path to a persisted directory is a link (here to the host's /etc): refused.
  fs::create_directories(root + "/srv");
  fs::create_symlink("/etc", root + "/srv/www");
  const auto hostile = PersistBinds(mount, "evil", "/srv/www", {"ssl"}, 0);
  auto refused = PrepareDirs(hostile, 300000, root);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.message(), Catch::Contains("symbolic link"));
  CHECK_FALSE(fs::exists(mount + "/sites/evil/ssl"));
  fs::remove_all(pattern);
}

}  // namespace
}  // namespace starling::files
