// [unit] secrets sealed with the cluster key for the state log (src/auth/sealed_secret.h): only
// a key holder reads them, under the name they were sealed for, across a key rotation.
#include "src/auth/sealed_secret.h"

#include <catch2/catch.hpp>
#include <cctype>
#include <set>

namespace starling::auth {
namespace {

TEST_CASE("Sealed secret: opens under its name with the key, and nowhere else", "[unit]") {
  const net::Keyring keyring({net::Keyring::Generate()});
  const std::string sealed = SealSecret(keyring, "db/site/shop", "hunter2-password");
  CHECK(sealed.find("hunter2") == std::string::npos);
  CHECK(sealed.starts_with("v1." + net::Keyring::Fingerprint(keyring.primary()) + "."));
  CHECK(SealedWithPrimary(keyring, sealed));
  auto opened = OpenSecret(keyring, "db/site/shop", sealed);
  REQUIRE(opened.ok());
  CHECK(*opened == "hunter2-password");
  // The same secret sealed twice differs (random nonce).
  CHECK(SealSecret(keyring, "db/site/shop", "hunter2-password") != sealed);

  // Another name: does not open (a value copied under another key).
  CHECK(OpenSecret(keyring, "db/site/other", sealed).status().code() == StatusCode::kCorruption);
  // Another cluster's key: not found.
  const net::Keyring stranger({net::Keyring::Generate()});
  CHECK(OpenSecret(stranger, "db/site/shop", sealed).status().code() == StatusCode::kNotFound);
  // Any byte changed: corruption (or a fingerprint nobody holds).
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string tampered = sealed;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    CHECK_FALSE(OpenSecret(keyring, "db/site/shop", tampered).ok());
  }
  for (const char* junk : {"", "v1", "v1..", "v2.x.y", "v1.abc", "v1.abc.!!!"}) {
    CHECK_FALSE(OpenSecret(keyring, "db/site/shop", junk).ok());
  }
}

TEST_CASE("Sealed secret: opens after the keyring rotates, while the old key is installed",
          "[unit]") {
  const net::Key old_key = net::Keyring::Generate();
  const net::Key new_key = net::Keyring::Generate();
  net::Keyring keyring({old_key});
  const std::string sealed = SealSecret(keyring, "db/sst", "s3cret");
  REQUIRE(keyring.Install(new_key).ok());
  REQUIRE(keyring.Use(new_key).ok());
  CHECK_FALSE(SealedWithPrimary(keyring, sealed));
  auto opened = OpenSecret(keyring, "db/sst", sealed);
  REQUIRE(opened.ok());
  CHECK(*opened == "s3cret");
  REQUIRE(keyring.Remove(old_key).ok());
  CHECK(OpenSecret(keyring, "db/sst", sealed).status().code() == StatusCode::kNotFound);
}

TEST_CASE("Sealed secret: new passwords are long, plain and different", "[unit]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string password = NewPassword();
    CHECK(password.size() == 32);
    for (char c : password) CHECK(std::isalnum(static_cast<unsigned char>(c)));
    seen.insert(password);
  }
  CHECK(seen.size() == 100);
}

}  // namespace
}  // namespace starling::auth
