// [unit] after a key rotation the writer's node reseals the database secrets under the new
// primary key (src/agent/site_database.h), so the old key can be removed.
#include "src/agent/site_database.h"

#include <catch2/catch.hpp>

#include "src/auth/sealed_secret.h"
#include "src/state/keys.h"

namespace starling::agent {
namespace {

store::Entry Entry(const std::string& key, const std::string& value) {
  store::Entry entry;
  entry.key = key;
  entry.value = value;
  return entry;
}

TEST_CASE("Database secrets: resealed under the new primary key, and only those", "[unit]") {
  const net::Key old_key = net::Keyring::Generate();
  const net::Key new_key = net::Keyring::Generate();
  net::Keyring keyring({old_key});
  const std::string sst = keys::DbSecret("sst");
  const std::string shop = SitePasswordKey("shop");
  std::vector<store::Entry> entries = {Entry(sst, auth::SealSecret(keyring, sst, "s1")),
                                       Entry(shop, auth::SealSecret(keyring, shop, "p1"))};
  CHECK(ResealedSecrets(entries, keyring).empty());  // already under the primary

  REQUIRE(keyring.Install(new_key).ok());
  REQUIRE(keyring.Use(new_key).ok());
  // One already resealed (by another writer), one foreign entry, one tombstone.
  const std::string blog = SitePasswordKey("blog");
  entries.push_back(Entry(blog, auth::SealSecret(keyring, blog, "p2")));
  entries.push_back(Entry("site/shop", "{}"));
  store::Entry gone = Entry(SitePasswordKey("old"), "");
  gone.tombstone = true;
  entries.push_back(gone);
  const std::vector<Put> resealed = ResealedSecrets(entries, keyring);
  REQUIRE(resealed.size() == 2);
  CHECK(resealed[0].key == sst);
  CHECK(resealed[1].key == shop);
  // Once the old key is gone, the resealed values still open, to what they held.
  REQUIRE(keyring.Remove(old_key).ok());
  for (const auto& [put, secret] : {std::pair{resealed[0], "s1"}, std::pair{resealed[1], "p1"}}) {
    CHECK(auth::SealedWithPrimary(keyring, put.value));
    auto opened = auth::OpenSecret(keyring, put.key, put.value);
    REQUIRE(opened.ok());
    CHECK(*opened == secret);
  }
  // A secret no key of the keyring opens is left alone.
  CHECK(ResealedSecrets({entries[0]}, keyring).empty());
}

}  // namespace
}  // namespace starling::agent
