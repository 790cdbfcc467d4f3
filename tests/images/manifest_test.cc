// [unit] tests of image manifests: round trips, and every malformed tree rejected with a reason.
#include "store/images/manifest.h"

#include <catch2/catch.hpp>

namespace starling::images {
namespace {

Manifest Sample() {
  Manifest m;
  m.site = "shop";
  m.command = {"/usr/sbin/apache2", "-DFOREGROUND"};
  m.env = {{"APP_ENV", "production"}};
  FileEntry dir{"var", FileKind::kDirectory, 0755};
  FileEntry www{"var/www", FileKind::kDirectory, 0755};
  FileEntry index{"var/www/index.php", FileKind::kRegular, 0644, 33, 33, 1'700'000'000'000'000'000};
  index.chunks = {{Sha256("<?php"), 5}, {Sha256(" echo 1;"), 8}};
  index.size = 13;
  index.xattrs = {{"user.note", std::string("a\0b", 3)}};
  FileEntry link{"var/www/latest", FileKind::kSymlink, 0777};
  link.target = "index.php";
  FileEntry hard{"var/www/other.php", FileKind::kHardlink, 0644};
  hard.target = "var/www/index.php";
  m.files = {dir, www, index, link, hard};
  return m;
}

TEST_CASE("a manifest survives a round trip and its encoding names the version", "[unit]") {
  const Manifest m = Sample();
  REQUIRE(Validate(m).ok());
  const std::string bytes = Encode(m);
  auto back = Decode(bytes);
  REQUIRE(back.ok());
  CHECK(*back == m);
  CHECK(VersionOf(bytes).size() == 64);
  CHECK(VersionOf(bytes) == VersionOf(Encode(*back)));
  Manifest changed = m;
  changed.files[2].mode = 0600;
  CHECK(VersionOf(Encode(changed)) != VersionOf(bytes));
}

TEST_CASE("malformed manifests are rejected with the reason", "[unit]") {
  auto rejects = [](const Manifest& m, const std::string& part) {
    Status s = Validate(m);
    INFO(s.ToString());
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find(part) != std::string::npos);
  };
  Manifest m = Sample();
  std::swap(m.files[3], m.files[4]);
  rejects(m, "sorted");
  m = Sample();
  m.files.erase(m.files.begin() + 1);
  rejects(m, "no parent directory");
  m = Sample();
  m.files[2].mode = 04755;
  rejects(m, "setuid");
  CHECK(Validate(m, ManifestRules{.allow_setuid = true}).ok());
  m = Sample();
  m.files[2].xattrs.emplace_back("trusted.overlay.opaque", "y");
  rejects(m, "user.* only");
  m = Sample();
  m.files[2].size = 14;
  rejects(m, "do not add up");
  m = Sample();
  m.files[3].target = "../../../etc/passwd";
  rejects(m, "escapes the image root");
  m = Sample();
  m.files[4].target = "var/www/nothing.php";
  rejects(m, "does not name an earlier regular file");
  m = Sample();
  m.files[4].target = "var/www";
  rejects(m, "does not name an earlier regular file");
  m = Sample();
  m.files[2].path = "var/www/../../x";
  rejects(m, "path component");
  m = Sample();
  m.files[0].chunks = {{Sha256("x"), 1}};
  rejects(m, "not a regular file");

  CHECK(Decode("").status().code() == StatusCode::kCorruption);
  CHECK(Decode(std::string(100, '\xff')).status().code() == StatusCode::kCorruption);
  // A valid encoding of an invalid tree is refused too.
  m = Sample();
  m.files[3].target = "/../../etc";
  CHECK(Decode(Encode(m)).status().code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace starling::images
