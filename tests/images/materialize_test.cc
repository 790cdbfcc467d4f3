// [unit] tests of materializing an image: the tree comes back exactly, atomically, or not at all.
#include "src/images/materialize.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/images/importer.h"

namespace starling::images {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST_CASE("a materialized image is the imported tree, and a corrupt chunk leaves nothing",
          "[unit]") {
  const fs::path base =
      fs::temp_directory_path() / ("starling-materialize-" + std::to_string(::getpid()));
  fs::remove_all(base);
  const fs::path tree = base / "tree";
  fs::create_directories(tree / "www/static");
  std::ofstream(tree / "www/index.php") << "<?php echo 'hi';";
  std::string big(900 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(tree / "www/static/app.js", std::ios::binary) << big;
  fs::create_symlink("static/app.js", tree / "www/app.js");
  fs::create_hard_link(tree / "www/index.php", tree / "www/home.php");
  ::chmod((tree / "www/static").c_str(), 0750);
  ::chmod((tree / "www/index.php").c_str(), 0640);

  auto store = ChunkStore::Open((base / "chunks").string());
  REQUIRE(store.ok());
  Manifest m;
  ImportStats imported;
  REQUIRE(ImportDirectory(tree.string(), {}, store->get(), &m, &imported).ok());

  const fs::path out = base / "images" / "v1";
  MaterializeStats stats;
  REQUIRE(Materialize(m, store->get(), out.string(), &stats).ok());
  CHECK(stats.bytes == imported.bytes);
  CHECK(Read(out / "www/static/app.js") == big);
  CHECK(Read(out / "www/index.php") == "<?php echo 'hi';");
  CHECK(fs::read_symlink(out / "www/app.js") == "static/app.js");
  CHECK(fs::equivalent(out / "www/home.php", out / "www/index.php"));
  struct stat a {
  }, b{};
  REQUIRE(::stat((out / "www/static").c_str(), &a) == 0);
  CHECK((a.st_mode & 07777) == 0750);
  REQUIRE(::stat((out / "www/index.php").c_str(), &a) == 0);
  REQUIRE(::stat((tree / "www/index.php").c_str(), &b) == 0);
  CHECK((a.st_mode & 07777) == 0640);
  CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec);
  CHECK(a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
  CHECK_FALSE(fs::exists(base / "images" / "v1.partial"));
  // Already there: nothing to do.
  CHECK(Materialize(m, store->get(), out.string(), &stats).ok());
  CHECK(stats.files == 0);

  // A chunk rotted on disk: the tree is refused whole, with nothing left behind.
  const FileEntry* app = nullptr;
  for (const FileEntry& f : m.files) {
    if (f.path == "www/static/app.js") app = &f;
  }
  REQUIRE(app != nullptr);
  const ChunkRef& chunk = app->chunks.back();
  REQUIRE((*store)->CorruptForTest(chunk.hash, "garbage").ok());
  const fs::path broken = base / "images" / "v2";
  Status s = Materialize(m, store->get(), broken.string(), &stats);
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK_FALSE(fs::exists(broken));
  CHECK_FALSE(fs::exists(base / "images" / "v2.partial"));
  store->reset();
  fs::remove_all(base);
}

}  // namespace
}  // namespace starling::images
