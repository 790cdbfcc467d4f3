// [unit] tests of importing tar archives: a good one rebuilds exactly; every hostile one is
// refused with the member named, and yields no manifest.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "src/images/importer.h"

namespace starling::images {
namespace {

namespace fs = std::filesystem;

struct Member {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string content;
  std::string link;  // symlink target
  std::string hardlink;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// Writes members to a tar file as given: libarchive does not second-guess the names.
void WriteTar(const fs::path& file, const std::vector<Member>& members, bool gzip = false) {
  archive* writer = archive_write_new();
  archive_write_set_format_pax_restricted(writer);
  if (gzip) archive_write_add_filter_gzip(writer);
  REQUIRE(archive_write_open_filename(writer, file.c_str()) == ARCHIVE_OK);
  for (const Member& m : members) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, m.path.c_str());
    archive_entry_set_filetype(entry, m.type);
    archive_entry_set_perm(entry, m.perm);
    archive_entry_set_mtime(entry, 1'700'000'000, 0);
    if (!m.link.empty()) archive_entry_set_symlink(entry, m.link.c_str());
    if (!m.hardlink.empty()) archive_entry_set_hardlink(entry, m.hardlink.c_str());
    for (const auto& [name, value] : m.xattrs) {
      archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    }
    archive_entry_set_size(entry, m.type == AE_IFREG && m.hardlink.empty()
                                      ? static_cast<la_int64_t>(m.content.size())
                                      : 0);
    REQUIRE(archive_write_header(writer, entry) == ARCHIVE_OK);
    if (m.type == AE_IFREG && !m.content.empty()) {
      archive_write_data(writer, m.content.data(), m.content.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(writer);
  archive_write_free(writer);
}

struct Fixture {
  fs::path dir;
  std::unique_ptr<ChunkStore> store;
  Fixture() {
    dir = fs::temp_directory_path() / ("starling-archive-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    store = std::move(ChunkStore::Open((dir / "chunks").string()).value());
  }
  ~Fixture() {
    store.reset();
    fs::remove_all(dir);
  }
  Status Import(const std::vector<Member>& members, Manifest* m, ImportOptions options = {},
                bool gzip = false) {
    WriteTar(dir / "image.tar", members, gzip);
    ImportStats stats;
    return ImportArchive((dir / "image.tar").string(), options, store.get(), m, &stats);
  }
};

TEST_CASE("a tar archive imports into the same kind of manifest as a tree", "[unit]") {
  Fixture f;
  std::string big(700 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>(i * 31);
  Manifest m;
  REQUIRE(f.Import({{"./var/www/", AE_IFDIR, 0755},
                    {"./var/www/index.php", AE_IFREG, 0644, "<?php echo 1;"},
                    {"./var/www/big.bin", AE_IFREG, 0600, big},
                    {"./var/www/current", AE_IFLNK, 0777, "", "index.php"},
                    {"./var/www/again.php", AE_IFREG, 0644, "", "", "./var/www/index.php"}},
                   &m, {}, /*gzip=*/true)
              .ok());
  REQUIRE(Validate(m).ok());
  std::vector<std::string> paths;
  for (const FileEntry& file : m.files) paths.push_back(file.path);
  // "var" was not in the archive: added, as tar would create it.
  CHECK(paths == std::vector<std::string>{"var", "var/www", "var/www/again.php", "var/www/big.bin",
                                          "var/www/current", "var/www/index.php"});
  std::string rebuilt;
  for (const ChunkRef& c : m.files[3].chunks) rebuilt += f.store->Get(c.hash).value();
  CHECK(rebuilt == big);
  CHECK(m.files[3].mode == 0600);
  // The hard link's content moved to the first name in path order.
  CHECK(m.files[2].kind == FileKind::kRegular);
  CHECK(m.files[5].kind == FileKind::kHardlink);
  CHECK(m.files[5].target == "var/www/again.php");
}

TEST_CASE("hostile archives are refused, naming the member, and yield nothing", "[unit]") {
  struct Case {
    std::string name;
    std::vector<Member> members;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"dot-dot", {{"../evil.sh", AE_IFREG, 0755, "x"}}, "path component '..'"},
      {"deep dot-dot", {{"www/../../evil", AE_IFREG, 0644, "x"}}, "path component '..'"},
      {"absolute", {{"/etc/cron.d/evil", AE_IFREG, 0644, "x"}}, "absolute path"},
      {"escaping symlink", {{"www/x", AE_IFLNK, 0777, "", "../../etc/shadow"}}, "escapes"},
      {"device", {{"var/sda", AE_IFBLK, 0600}}, "device node"},
      {"fifo", {{"run/pipe", AE_IFIFO, 0600}}, "device node, FIFO"},
      {"setuid", {{"bin/su", AE_IFREG, 04755, "x"}}, "setuid"},
      {"hard link to nothing", {{"a", AE_IFREG, 0644, "", "", "missing"}}, "hard link"},
      {"hard link escaping", {{"a", AE_IFREG, 0644, "", "", "../../etc/passwd"}}, "hard link"},
  };
  for (const Case& c : cases) {
    Fixture f;
    Manifest m;
    m.site = "keep";
    Status s = f.Import(c.members, &m);
    INFO(c.name << ": " << s.ToString());
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find(c.expect) != std::string::npos);
    CHECK(m.files.empty());
    CHECK(m.site == "keep");
  }

  // A root file system: its dev/ nodes are left out and counted; its setuid files are
  // refused in one error naming them all.
  {
    Fixture f;
    Manifest m;
    const std::vector<Member> rootfs = {{"dev/console", AE_IFCHR, 0600},
                                        {"dev/null", AE_IFCHR, 0666},
                                        {"bin/su", AE_IFREG, 04755, "x"},
                                        {"usr/bin/chage", AE_IFREG, 02755, "y"},
                                        {"etc/hostname", AE_IFREG, 0644, "box\n"}};
    Status s = f.Import(rootfs, &m);
    INFO(s.ToString());
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find("2 setuid or setgid files: bin/su, usr/bin/chage") != std::string::npos);
    CHECK(s.message().find("--allow-setuid") != std::string::npos);
    CHECK(m.files.empty());
    ImportOptions allow;
    allow.rules.allow_setuid = true;
    ImportStats stats;
    WriteTar(f.dir / "rootfs.tar", rootfs);
    REQUIRE(ImportArchive((f.dir / "rootfs.tar").string(), allow, f.store.get(), &m, &stats).ok());
    CHECK(stats.devices_skipped == 2);
    for (const auto& file : m.files) CHECK_FALSE(file.path.starts_with("dev/"));
  }

  SECTION("xattrs other than user.* are left out and counted, never applied") {
    Fixture f;
    Manifest m;
    Member file{"etc/motd", AE_IFREG, 0644, "hello\n"};
    file.xattrs = {{"user.note", "kept"},
                   {"trusted.overlay.opaque", "y"},
                   {"security.capability", std::string("\1\0\0\2", 4)}};
    WriteTar(f.dir / "x.tar", {{"etc", AE_IFDIR, 0755}, file});
    ImportStats stats;
    REQUIRE(ImportArchive((f.dir / "x.tar").string(), {}, f.store.get(), &m, &stats).ok());
    CHECK(stats.xattrs_dropped == 2);
    REQUIRE(m.files.size() == 2);
    CHECK(m.files[1].xattrs ==
          std::vector<std::pair<std::string, std::string>>{{"user.note", "kept"}});
  }

  // A truncated archive.
  Fixture f;
  WriteTar(f.dir / "whole.tar", {{"big.bin", AE_IFREG, 0644, std::string(300 * 1024, 'z')}});
  const auto size = fs::file_size(f.dir / "whole.tar");
  fs::resize_file(f.dir / "whole.tar", size / 2);
  Manifest m;
  ImportStats stats;
  Status s = ImportArchive((f.dir / "whole.tar").string(), {}, f.store.get(), &m, &stats);
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("truncated") != std::string::npos);
  CHECK(m.files.empty());
  // Not an archive at all.
  std::ofstream(f.dir / "junk.tar") << std::string(5000, '\x07');
  CHECK_FALSE(ImportArchive((f.dir / "junk.tar").string(), {}, f.store.get(), &m, &stats).ok());
}

}  // namespace
}  // namespace starling::images
