// [unit] tests of image records: a manifest stored as chunks comes back exactly, by its version.
#include "src/images/registry.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace starling::images {
namespace {

TEST_CASE("a manifest stored as chunks loads back by its record", "[unit]") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("starling-registry-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = ChunkStore::Open(dir.string());
  REQUIRE(store.ok());
  Manifest m;
  m.site = "shop";
  m.command = {"php-fpm", "-F"};
  m.env = {{"APP_ENV", "production"}, {"DB_HOST", "127.0.0.1"}};
  m.files.push_back({"www", FileKind::kDirectory, 0755});
  for (int i = 0; i < 5000; ++i) {  // big enough for several manifest chunks
    FileEntry f{"www/page-" + std::to_string(100000 + i) + ".html", FileKind::kRegular, 0644};
    f.chunks = {{Sha256("page " + std::to_string(i)), 10}};
    f.size = 10;
    m.files.push_back(f);
  }
  ChunkerOptions small{1024, 4096, 16384};
  auto record = StoreManifest(m, small, store->get());
  REQUIRE(record.ok());
  CHECK(record->manifest_chunks.size() > 3);
  CHECK(record->files == 5000);
  CHECK(record->bytes == 50000);
  CHECK(record->chunks == 5000);
  CHECK(record->env == m.env);  // the start command's environment reaches the copies
  CHECK(record->version == VersionOf(Encode(m)));
  CHECK(RecordKey("shop", record->version) == "image/shop/" + record->version);

  auto decoded = DecodeRecord(EncodeRecord(*record));
  REQUIRE(decoded.ok());
  CHECK(*decoded == *record);
  auto loaded = LoadManifest(*decoded, store->get());
  REQUIRE(loaded.ok());
  CHECK(*loaded == m);

  ImageRecord forged = *record;
  forged.version[0] = forged.version[0] == 'a' ? 'b' : 'a';
  CHECK(LoadManifest(forged, store->get()).status().code() == StatusCode::kCorruption);
  CHECK(DecodeRecord("{}").status().code() == StatusCode::kCorruption);
  // A record written before the environment was kept decodes with none.
  auto old = nlohmann::json::parse(EncodeRecord(*record));
  old.erase("env");
  auto before = DecodeRecord(old.dump());
  REQUIRE(before.ok());
  CHECK(before->env.empty());
  CHECK(DecodeRecord("[1,2]").status().code() == StatusCode::kCorruption);
  // A site's version layered on a stack, and a stack's version with its docroot, round-trip; a
  // stack that is not a stack's image, or a version that is not one, is refused.
  ImageRecord layered = *record;
  layered.stack = StackImage("php");
  layered.stack_version = record->version;
  auto back = DecodeRecord(EncodeRecord(layered));
  REQUIRE(back.ok());
  CHECK(*back == layered);
  ImageRecord stack = *record;
  stack.site = StackImage("php");
  stack.docroot = "/var/www/html";
  CHECK(DecodeRecord(EncodeRecord(stack))->docroot == "/var/www/html");
  layered.stack = "php";
  CHECK(DecodeRecord(EncodeRecord(layered)).status().code() == StatusCode::kCorruption);
  layered.stack = StackImage("php");
  layered.stack_version = "v1";
  CHECK(DecodeRecord(EncodeRecord(layered)).status().code() == StatusCode::kCorruption);
  Manifest bad = m;
  bad.site = "Bad Site";
  CHECK_FALSE(StoreManifest(bad, small, store->get()).ok());
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("a manifest's layering is part of its version and is checked", "[unit]") {
  Manifest site;
  site.site = "shop";
  site.files.push_back({.path = "var", .kind = FileKind::kDirectory, .mode = 0755});
  const std::string plain = VersionOf(Encode(site));
  CHECK(ValidateLayering(site).ok());
  const std::string stack_version(64, 'a');
  site.layering = {StackImage("php"), stack_version, ""};
  CHECK(ValidateLayering(site).ok());
  auto decoded = Decode(Encode(site));
  REQUIRE(decoded.ok());
  CHECK(decoded->layering == site.layering);
  // The same tree on another stack version is another version.
  const std::string on_a = VersionOf(Encode(site));
  site.layering.stack_version = std::string(64, 'b');
  CHECK(VersionOf(Encode(site)) != on_a);
  CHECK(on_a != plain);
  for (const Layering& bad :
       {Layering{"php", stack_version, ""}, Layering{StackImage("php"), "v1", ""},
        Layering{"", stack_version, ""},
        Layering{StackImage("php"), stack_version, "/var/www/html"},
        Layering{"", "", "/var/www/html"}}) {
    site.layering = bad;
    INFO(bad.stack << " " << bad.stack_version << " " << bad.docroot);
    CHECK(ValidateLayering(site).code() == StatusCode::kInvalidArgument);
  }
  Manifest stack;
  stack.site = StackImage("php");
  CHECK_FALSE(ValidateLayering(stack).ok());  // a stack needs its docroot
  stack.layering.docroot = "/var/www/html";
  CHECK(ValidateLayering(stack).ok());
  stack.layering.stack = StackImage("base");
  stack.layering.stack_version = stack_version;
  CHECK_FALSE(ValidateLayering(stack).ok());  // and stands on no other stack
}

TEST_CASE("stack names and docroots", "[unit]") {
  CHECK(StackImage("php") == "stack.php");
  CHECK(IsStackImage("stack.php"));
  CHECK_FALSE(IsStackImage("shop"));
  for (const char* good : {"php", "php-8", "a"}) CHECK(ValidateStackName(good).ok());
  for (const char* bad :
       {"", "PHP", "8php", "php-", "php.8", "a/b", "abcdefghijklmnopqrstuvwxyz0123456"}) {
    INFO(bad);
    CHECK(ValidateStackName(bad).code() == StatusCode::kInvalidArgument);
  }
  for (const char* good : {"/var/www/html", "/srv", "/a/b-c/d_e"})
    CHECK(ValidateDocroot(good).ok());
  for (const char* bad : {"", "/", "var/www", "/var/www/", "/var//www", "/var/../etc", "/./x"}) {
    INFO(bad);
    CHECK(ValidateDocroot(bad).code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace starling::images
