// An image cannot fill a node's disk (issue 16): a half-megabyte .tar.gz that unpacks to over
// 500 MB is refused as a bomb before its big member is read; a tree over the site's quota, or
// one that would leave the disk too full, is refused naming the limit. The real importers.
#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "src/images/importer.h"

namespace starling::images {
namespace {

namespace fs = std::filesystem;

struct Dir {
  fs::path path;
  Dir() {
    path = fs::temp_directory_path() / ("starling-bomb-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
};

// A gzip'd tar with one member of `bytes` zeros, written a megabyte at a time.
void WriteZeros(const fs::path& file, uint64_t bytes) {
  archive* writer = archive_write_new();
  archive_write_set_format_pax_restricted(writer);
  archive_write_add_filter_gzip(writer);
  REQUIRE(archive_write_open_filename(writer, file.c_str()) == ARCHIVE_OK);
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, "zeros.bin");
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_perm(entry, 0644);
  archive_entry_set_size(entry, static_cast<la_int64_t>(bytes));
  REQUIRE(archive_write_header(writer, entry) == ARCHIVE_OK);
  const std::string megabyte(1 << 20, '\0');
  for (uint64_t left = bytes; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, megabyte.size()));
    REQUIRE(archive_write_data(writer, megabyte.data(), n) == static_cast<la_ssize_t>(n));
    left -= n;
  }
  archive_entry_free(entry);
  archive_write_close(writer);
  archive_write_free(writer);
}

ImportLimits Defaults(const fs::path& disk) {
  return {.max_bytes = 4096ull << 20,
          .max_expansion = 100,
          .min_free_bytes = 256ull << 20,
          .disk_path = disk.string()};
}

TEST_CASE("Images: an archive bomb is refused before it is unpacked", "[security]") {
  Dir dir;
  const fs::path bomb = dir.path / "bomb.tar.gz";
  WriteZeros(bomb, 513ull << 20);
  CHECK(fs::file_size(bomb) < (1u << 20));  // about half a megabyte
  auto store = ChunkStore::Open((dir.path / "chunks").string());
  REQUIRE(store.ok());
  ImportOptions options;
  options.limits = Defaults(dir.path);
  Manifest manifest;
  ImportStats stats;
  const Status s = ImportArchive(bomb.string(), options, store->get(), &manifest, &stats);
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("images.max_expansion") != std::string::npos);
  CHECK(s.message().find("zeros.bin") != std::string::npos);
  CHECK(stats.bytes_read == 0);  // refused at its header: nothing of it was read
  CHECK(manifest.files.empty());
}

TEST_CASE("Images: a tree over the quota, or the disk's floor, is refused", "[security]") {
  Dir dir;
  fs::create_directories(dir.path / "tree");
  for (const char* name : {"a.bin", "b.bin", "c.bin"}) {
    std::ofstream(dir.path / "tree" / name) << std::string(1 << 20, 'x');
  }
  auto store = ChunkStore::Open((dir.path / "chunks").string());
  REQUIRE(store.ok());
  ImportOptions options;
  options.limits = Defaults(dir.path);
  options.limits.max_bytes = 2ull << 20;
  Manifest manifest;
  ImportStats stats;
  Status s =
      ImportDirectory((dir.path / "tree").string(), options, store->get(), &manifest, &stats);
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.message().find("quota of 2 MiB at 'c.bin'") != std::string::npos);
  CHECK(manifest.files.empty());

  // A disk that would keep less than the floor free.
  options.limits = Defaults(dir.path);
  options.limits.min_free_bytes = uint64_t{1} << 60;
  s = ImportDirectory((dir.path / "tree").string(), options, store->get(), &manifest, &stats);
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.message().find("images.min_free_mb") != std::string::npos);

  // Within every limit, it imports.
  options.limits = Defaults(dir.path);
  CHECK(
      ImportDirectory((dir.path / "tree").string(), options, store->get(), &manifest, &stats).ok());
  CHECK(manifest.files.size() == 3);
}

}  // namespace
}  // namespace starling::images
