// [unit] tests of importing a directory: the manifest describes the tree exactly, its chunks
// rebuild every file, unchanged files are not re-read, and hostile trees are refused.
#include "src/images/importer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

namespace starling::images {
namespace {

namespace fs = std::filesystem;

struct Tree {
  fs::path root, store_dir;
  std::unique_ptr<ChunkStore> store;
  Tree() {
    const fs::path base =
        fs::temp_directory_path() / ("starling-import-" + std::to_string(::getpid()));
    fs::remove_all(base);
    root = base / "tree";
    store_dir = base / "chunks";
    fs::create_directories(root);
    store = std::move(ChunkStore::Open(store_dir.string()).value());
  }
  ~Tree() {
    store.reset();
    fs::remove_all(root.parent_path());
  }
  void Write(const std::string& path, const std::string& content) {
    fs::create_directories((root / path).parent_path());
    std::ofstream(root / path, std::ios::binary) << content;
  }
  std::string Rebuild(const Manifest& m, const std::string& path) {
    for (const FileEntry& f : m.files) {
      if (f.path != path) continue;
      std::string content;
      for (const ChunkRef& c : f.chunks) content += store->Get(c.hash).value();
      return content;
    }
    return "<missing>";
  }
};

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_CASE("a directory imports into a manifest whose chunks rebuild every file", "[unit]") {
  Tree t;
  t.Write("var/www/index.php", "<?php echo 'hello';");
  t.Write("var/www/assets/big.bin", Random(3 << 20, 1));
  t.Write("var/www-old/readme.txt", "old");
  t.Write("etc/app.conf", "x=1\n");
  fs::create_directory_symlink("../www-old", t.root / "var/www/previous");
  fs::create_hard_link(t.root / "var/www/index.php", t.root / "var/www-index.php");
  ::chmod((t.root / "etc/app.conf").c_str(), 0600);

  Manifest m;
  m.site = "shop";
  ImportStats stats;
  REQUIRE(ImportDirectory(t.root.string(), {}, t.store.get(), &m, &stats).ok());
  REQUIRE(Validate(m).ok());
  REQUIRE(Decode(Encode(m)).ok());
  CHECK(t.Rebuild(m, "var/www/assets/big.bin") == Random(3 << 20, 1));
  CHECK(stats.chunks > 10);
  CHECK(stats.new_chunk_bytes == stats.bytes);
  bool saw_link = false, saw_hardlink = false;
  for (const FileEntry& f : m.files) {
    if (f.path == "var/www/previous") {
      saw_link = f.kind == FileKind::kSymlink && f.target == "../www-old";
    }
    if (f.kind == FileKind::kHardlink) {
      // "var/www-index.php" sorts before "var/www/index.php": it holds the content.
      saw_hardlink = f.path == "var/www/index.php" && f.target == "var/www-index.php";
    }
    if (f.path == "etc/app.conf") CHECK(f.mode == 0600);
  }
  CHECK(saw_link);
  CHECK(saw_hardlink);
  CHECK(t.Rebuild(m, "var/www-index.php") == "<?php echo 'hello';");

  // Nothing changed: nothing is read again.
  Manifest again;
  ImportOptions options;
  options.previous = &m;
  REQUIRE(ImportDirectory(t.root.string(), options, t.store.get(), &again, &stats).ok());
  CHECK(stats.bytes_read == 0);
  CHECK(again.files == m.files);

  // One small edit in the big file: only it is read, and only a chunk or two is new.
  std::string big = Random(3 << 20, 1);
  big[1 << 20] ^= 1;
  t.Write("var/www/assets/big.bin", big);
  REQUIRE(ImportDirectory(t.root.string(), options, t.store.get(), &again, &stats).ok());
  CHECK(stats.bytes_read == big.size());
  CHECK(stats.new_chunks <= 2);
  CHECK(stats.new_chunk_bytes <= 2 * 256 * 1024);
  CHECK(t.Rebuild(again, "var/www/assets/big.bin") == big);
}

TEST_CASE("hostile trees are refused, naming the path", "[unit]") {
  auto refused = [](Tree& t, const std::string& part, ImportOptions options = {}) {
    Manifest m;
    ImportStats stats;
    Status s = ImportDirectory(t.root.string(), options, t.store.get(), &m, &stats);
    INFO(s.ToString());
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find(part) != std::string::npos);
    CHECK(m.files.empty());
  };
  {
    Tree t;
    t.Write("www/index.html", "hi");
    fs::create_symlink("../../../etc/shadow", t.root / "www/evil");
    refused(t, "escapes the image root");
  }
  {
    Tree t;
    t.Write("www/index.html", "hi");
    REQUIRE(::mkfifo((t.root / "www/pipe").c_str(), 0644) == 0);
    refused(t, "www/pipe");
  }
  {
    Tree t;
    t.Write("bin/tool", "#!/bin/sh\n");
    ::chmod((t.root / "bin/tool").c_str(), 04755);
    t.Write("usr/bin/chage", "#!/bin/sh\n");
    ::chmod((t.root / "usr/bin/chage").c_str(), 02755);
    refused(t, "2 setuid or setgid files: bin/tool, usr/bin/chage");  // all of them, at once
    ImportOptions allow;
    allow.rules.allow_setuid = true;
    Manifest m;
    ImportStats stats;
    CHECK(ImportDirectory(t.root.string(), allow, t.store.get(), &m, &stats).ok());
  }
  {
    // A root file system's dev/: its special files are left out (the runtime provides /dev).
    Tree t;
    t.Write("etc/hostname", "box\n");
    fs::create_directories(t.root / "dev");
    REQUIRE(::mkfifo((t.root / "dev/initctl").c_str(), 0600) == 0);
    Manifest m;
    ImportStats stats;
    REQUIRE(ImportDirectory(t.root.string(), {}, t.store.get(), &m, &stats).ok());
    CHECK(stats.devices_skipped == 1);
    for (const auto& file : m.files) CHECK(file.path != "dev/initctl");
  }
  Tree t;
  Manifest m;
  ImportStats stats;
  CHECK(ImportDirectory((t.root / "missing").string(), {}, t.store.get(), &m, &stats).code() ==
        StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace starling::images
