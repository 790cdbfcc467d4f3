// Persisted paths (src/sites/persist.h): what a site may share among its copies, in one form.
#include "src/sites/persist.h"

#include <catch2/catch.hpp>

#include "src/sites/site.h"

namespace starling::sites {
namespace {

TEST_CASE("a persisted path is relative, plain, and has one spelling", "[unit]") {
  for (const char* good : {"data", "wp-content/uploads", "a.b_c-d/E9", "data/"}) {
    INFO(good);
    CHECK(NormalizePersistPath(good).ok());
  }
  CHECK(*NormalizePersistPath("data/") == "data");
  CHECK(*NormalizePersistPath("wp-content/uploads/") == "wp-content/uploads");
  for (const char* bad : {"", "/", "/data", "../data", "data/..", "data/../x", "./data", "a//b",
                          "data//", "da ta", "data\\x", "dätä", "a/*/b", "~root"}) {
    INFO(bad);
    const auto normal = NormalizePersistPath(bad);
    CHECK_FALSE(normal.ok());
  }
  CHECK_FALSE(NormalizePersistPath(std::string(256, 'a')).ok());
  CHECK(NormalizePersistPath(std::string(255, 'a')).ok());
  CHECK_THAT(NormalizePersistPath("/etc").status().message(), Catch::Contains("relative"));
}

TEST_CASE("a site's persisted paths are sorted, once each, none inside another", "[unit]") {
  auto sorted = NormalizePersist({"uploads/", "data", "data-2"});
  REQUIRE(sorted.ok());
  CHECK(*sorted == std::vector<std::string>{"data", "data-2", "uploads"});
  CHECK_FALSE(NormalizePersist({"data", "data/"}).ok());  // the same path twice
  auto overlap = NormalizePersist({"data", "data/cache"});
  REQUIRE_FALSE(overlap.ok());
  CHECK_THAT(overlap.status().message(), Catch::Contains("overlap"));
  CHECK_FALSE(NormalizePersist({"a/b/c", "x", "a/b"}).ok());
  CHECK(NormalizePersist({"data", "data2", "dat"}).ok());  // apart by components
  std::vector<std::string> many;
  for (int i = 0; i < 17; ++i) many.push_back("d" + std::to_string(i));
  CHECK_FALSE(NormalizePersist(many).ok());
  many.pop_back();
  CHECK(NormalizePersist(many).ok());
  // A stored list must already be in its one form.
  CHECK_FALSE(ValidatePersist({"b", "a"}).ok());
  CHECK_FALSE(ValidatePersist({"a/"}).ok());
}

TEST_CASE("a site takes its persisted paths whole, and refuses bad ones with no change", "[unit]") {
  Site base;
  base.name = "shop";
  base.domains = {"shop.example.com"};
  auto site = Apply(base, {{"persist", {"wp-content/uploads/", "data"}}}, false);
  REQUIRE(site.ok());
  CHECK(site->persist == std::vector<std::string>{"data", "wp-content/uploads"});
  auto decoded = Decode(Encode(*site));
  REQUIRE(decoded.ok());
  CHECK(decoded->persist == site->persist);
  auto emptied = Apply(*site, {{"persist", nlohmann::json::array()}}, false);
  REQUIRE(emptied.ok());
  CHECK(emptied->persist.empty());
  // A merge adds and removes.
  auto merged = Apply(*site, {{"persist", {{"cache", true}, {"data/", nullptr}}}}, false);
  REQUIRE(merged.ok());
  CHECK(merged->persist == std::vector<std::string>{"cache", "wp-content/uploads"});
  CHECK_FALSE(Apply(*site, {{"persist", {{"data/x", true}}}}, false).ok());  // inside data
  CHECK_FALSE(Apply(*site, {{"persist", {{"x", 1}}}}, false).ok());
  CHECK_FALSE(Apply(base, {{"persist", "data"}}, false).ok());
  CHECK_FALSE(Apply(base, {{"persist", {"../etc"}}}, false).ok());
  CHECK_FALSE(Apply(base, {{"persist", {1}}}, false).ok());
  auto quota = Apply(base, {{"files_quota_mb", 200}}, false);
  REQUIRE(quota.ok());
  CHECK(quota->files_quota_mb == 200);
  CHECK_FALSE(Apply(base, {{"files_quota_mb", -1}}, false).ok());
}

}  // namespace
}  // namespace starling::sites
