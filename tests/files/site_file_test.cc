// [unit] an operator's reads and writes of a site's files (src/files/site_file.h): beneath the
// site's directory only, through no symbolic link a site's code could plant, never half a file.
#include "src/files/site_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace starling::files {
namespace {

namespace fs = std::filesystem;

std::string Slurp(int fd) {
  std::string text;
  char buffer[256];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  ::close(fd);
  return text;
}

TEST_CASE("a site's file is read and written beneath its directory, never through a link",
          "[unit]") {
  REQUIRE(::geteuid() == 0);
  char pattern[] = "/tmp/starling-sitefile-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string base = pattern, site = base + "/sites/shop", secret = base + "/secret";
  fs::create_directories(site + "/uploads/2026");
  std::ofstream(site + "/uploads/2026/logo.txt") << "logo";
  std::ofstream(secret) << "host secret";
  ::chown((site + "/uploads/2026").c_str(), 300033, 300033);
  fs::create_symlink(secret, site + "/uploads/leak.txt");
  fs::create_symlink(base, site + "/up");

  auto read = OpenSiteFile(site, "uploads/2026/logo.txt");
  REQUIRE(read.ok());
  CHECK(Slurp(*read) == "logo");
  CHECK(OpenSiteFile(site, "uploads/none.txt").status().code() == StatusCode::kNotFound);
  for (const char* refused :
       {"uploads/leak.txt", "up/secret", "up/sites/shop/uploads/2026/logo.txt"}) {
    INFO(refused);
    auto opened = OpenSiteFile(site, refused);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().code() == StatusCode::kFailedPrecondition);
  }
  CHECK(OpenSiteFile(site, "uploads").status().code() == StatusCode::kFailedPrecondition);
  for (const char* bad : {"../secret", "/etc/passwd", "uploads/../../secret", "a b", ""}) {
    INFO(bad);
    CHECK(OpenSiteFile(site, bad).status().code() == StatusCode::kInvalidArgument);
  }

  const std::string body = base + "/body";
  std::ofstream(body) << "new logo";
  auto put = PutSiteFile(site, "uploads/2026/new.txt", body);
  REQUIRE(put.ok());
  CHECK(*put == 8);
  struct stat st {};
  REQUIRE(::stat((site + "/uploads/2026/new.txt").c_str(), &st) == 0);
  CHECK(st.st_uid == 300033);  // the directory's: the copies' user
  CHECK((st.st_mode & 0777) == 0660);
  // Over a planted link: the link is replaced, the host's file untouched.
  REQUIRE(PutSiteFile(site, "uploads/leak.txt", body).ok());
  CHECK_FALSE(fs::is_symlink(site + "/uploads/leak.txt"));
  std::stringstream untouched;
  untouched << std::ifstream(secret).rdbuf();
  CHECK(untouched.str() == "host secret");
  CHECK_FALSE(PutSiteFile(site, "up/secret", body).ok());
  CHECK(PutSiteFile(site, "nodir/x.txt", body).status().code() == StatusCode::kNotFound);
  // Nothing left aside.
  for (const auto& entry : fs::directory_iterator(site + "/uploads/2026")) {
    CHECK_FALSE(entry.path().filename().string().starts_with(".starling-put"));
  }
  fs::remove_all(base);
}

}  // namespace
}  // namespace starling::files
