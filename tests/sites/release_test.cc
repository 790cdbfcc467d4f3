// Releases (src/sites/release.h): which version a site's copies run, its tag, and what stands
// when the stored release's version is gone.
#include "src/sites/release.h"

#include <catch2/catch.hpp>

namespace starling::sites {
namespace {

const std::string kA(64, 'a'), kB(64, 'b'), kC(64, 'c');

TEST_CASE("a release round-trips, and bad stored releases are refused", "[unit]") {
  const Release release{.version = kB, .previous = kA, .restart = 2, .by = "n1", .at_ms = 7};
  auto decoded = DecodeRelease(Encode(release));
  REQUIRE(decoded.ok());
  CHECK(*decoded == release);
  CHECK_FALSE(DecodeRelease("{").ok());
  CHECK_FALSE(DecodeRelease(R"({"version":"short"})").ok());
  CHECK_FALSE(DecodeRelease(R"({"version":")" + kA + R"(","previous":"x"})").ok());
  CHECK_FALSE(DecodeRelease(R"({"version":")" + kA + R"(","restart":-1})").ok());

  const RolloutFailure failure{
      .tag = Tag(kB, 0, Site{}), .why = "exited", .node = "n2", .at_ms = 9};
  auto back = DecodeRolloutFailure(Encode(failure));
  REQUIRE(back.ok());
  CHECK(back->tag == failure.tag);
  CHECK(back->why == "exited");
  CHECK_FALSE(DecodeRolloutFailure(R"({"why":"x"})").ok());
}

TEST_CASE("a release's tag names its version, restart and the limits copies start with", "[unit]") {
  const Site site;
  CHECK(Tag(kA, 0, site) == Tag(kA, 0, site));
  CHECK(Tag(kA, 0, site) != Tag(kA, 1, site));
  CHECK(Tag(kA, 0, site) != Tag(kB, 0, site));
  CHECK(Tag(kA, 0, site) != 0);
  // A change of what a copy is started with rolls the copies; of anything else, not.
  Site more_memory = site;
  more_memory.memory_mb = 1024;
  CHECK(Tag(kA, 0, more_memory) != Tag(kA, 0, site));
  Site fewer_pids = site;
  fewer_pids.pids = 64;
  CHECK(Tag(kA, 0, fewer_pids) != Tag(kA, 0, site));
  Site scaled = site;
  scaled.max_copies = 3;
  scaled.domains = {"other.example.com"};
  CHECK(Tag(kA, 0, scaled) == Tag(kA, 0, site));
  // Its environment and its secrets' fingerprints are what copies start with too.
  Site with_env = site;
  with_env.env = {{"GREETING", "hello"}};
  CHECK(Tag(kA, 0, with_env) != Tag(kA, 0, site));
  Site other_env = with_env;
  other_env.env["GREETING"] = "hi";
  CHECK(Tag(kA, 0, other_env) != Tag(kA, 0, with_env));
  Site with_secret = site;
  with_secret.secrets = {{"TOKEN", "0123456789abcdef"}};
  CHECK(Tag(kA, 0, with_secret) != Tag(kA, 0, site));
  Site resealed = with_secret;
  resealed.secrets["TOKEN"] = "fedcba9876543210";
  CHECK(Tag(kA, 0, resealed) != Tag(kA, 0, with_secret));
  // A setting named like a secret is not the secret.
  Site as_setting = site;
  as_setting.env = {{"TOKEN", "0123456789abcdef"}};
  CHECK(Tag(kA, 0, as_setting) != Tag(kA, 0, with_secret));
  // Persisted paths are bound at a copy's start; their quota is not.
  Site persisted = site;
  persisted.persist = {"data"};
  CHECK(Tag(kA, 0, persisted) != Tag(kA, 0, site));
  Site more_persisted = persisted;
  more_persisted.persist = {"data", "uploads"};
  CHECK(Tag(kA, 0, more_persisted) != Tag(kA, 0, persisted));
  Site with_quota = persisted;
  with_quota.files_quota_mb = 100;
  CHECK(Tag(kA, 0, with_quota) == Tag(kA, 0, persisted));
}

TEST_CASE("the release in force: the stored one while its version is kept", "[unit]") {
  CHECK_FALSE(InForce(std::nullopt, {}).has_value());
  // No stored release (a log from before releases): the newest push, the next as previous.
  auto implied = InForce(std::nullopt, {kC, kB, kA});
  REQUIRE(implied.has_value());
  CHECK(implied->version == kC);
  CHECK(implied->previous == kB);
  CHECK(implied->restart == 0);
  // A rollback to B stands though C is newer.
  const Release back{.version = kB, .previous = kC, .restart = 0};
  CHECK(InForce(back, {kC, kB, kA})->version == kB);
  CHECK(InForce(back, {kC, kB, kA})->previous == kC);
  // Its previous was removed: no previous.
  CHECK(InForce(back, {kB, kA})->previous.empty());
  // Its version was removed: the newest push stands.
  CHECK(InForce(back, {kC, kA})->version == kC);
}

TEST_CASE("a stopped rollout: new copies start on the release before", "[unit]") {
  const Site site;
  const Release pushed{.version = kC, .previous = kB};
  // No failure stored, or one for another release: rolling to C.
  for (const auto& failure :
       {std::optional<RolloutFailure>(), std::optional(RolloutFailure{.tag = Tag(kA, 0, site)})}) {
    auto state = Resolve(pushed, {kC, kB, kA}, failure, site);
    REQUIRE(state.has_value());
    CHECK_FALSE(state->stopped);
    CHECK(state->tag == Tag(kC, 0, site));
    CHECK(state->start_version == kC);
    CHECK(state->start_tag == state->tag);
  }
  // C's copies failed to serve: new copies run B (a tag unlike C's, so C is not rolled to).
  auto stopped = Resolve(pushed, {kC, kB, kA}, RolloutFailure{.tag = Tag(kC, 0, site)}, site);
  REQUIRE(stopped.has_value());
  CHECK(stopped->stopped);
  CHECK(stopped->start_version == kB);
  CHECK(stopped->start_tag == Tag(kB, 0, site));
  // With B no longer kept there is nothing to fall back to: C it is.
  auto alone = Resolve(pushed, {kC, kA}, RolloutFailure{.tag = Tag(kC, 0, site)}, site);
  REQUIRE(alone.has_value());
  CHECK(alone->stopped);
  CHECK(alone->start_version == kC);
  CHECK_FALSE(Resolve(pushed, {}, std::nullopt, site).has_value());
}

}  // namespace
}  // namespace starling::sites
