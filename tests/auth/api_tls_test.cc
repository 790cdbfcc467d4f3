// [unit] the API's certificates issued from the cluster key (src/auth/api_tls.h): the same CA on
// every node, a node's certificate that verifies for its names only, under its cluster's CA only.
#include "src/auth/api_tls.h"

#include <catch2/catch.hpp>

namespace starling::auth {
namespace {

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15

TEST_CASE("API TLS: every node derives the same CA from the cluster key, another key another",
          "[unit]") {
  const net::Key key = net::Keyring::Generate();
  auto first = ClusterCaPem(key);
  auto second = ClusterCaPem(key);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(*first == *second);  // byte for byte: nothing random in it
  CHECK(first->starts_with("-----BEGIN CERTIFICATE-----"));
  auto other = ClusterCaPem(net::Keyring::Generate());
  REQUIRE(other.ok());
  CHECK(*other != *first);
}

TEST_CASE("API TLS: a node's certificate verifies for its names, under its cluster's CA",
          "[unit]") {
  const net::Key key = net::Keyring::Generate();
  auto issued = IssueServerCertificate(key, "node-1", {"10.0.0.1", "node-1.rack", "::1"}, kNow);
  REQUIRE(issued.ok());
  CHECK(issued->ca_pem == *ClusterCaPem(key));
  CHECK(issued->key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
  CHECK(VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "10.0.0.1", kNow).ok());
  CHECK(VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "node-1.rack", kNow).ok());
  CHECK(VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "::1", kNow).ok());
  // Not for a name it does not carry.
  const Status elsewhere =
      VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "10.0.0.2", kNow);
  CHECK(elsewhere.code() == StatusCode::kUnauthenticated);
  CHECK(VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "evil.example", kNow).code() ==
        StatusCode::kUnauthenticated);
  // Not under another cluster's CA, and not once expired (398 days) or before it was issued.
  auto foreign = ClusterCaPem(net::Keyring::Generate());
  REQUIRE(foreign.ok());
  CHECK(VerifyServerCertificate(*foreign, issued->cert_pem, "10.0.0.1", kNow).code() ==
        StatusCode::kUnauthenticated);
  CHECK_FALSE(
      VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "10.0.0.1", kNow + 400 * 86400)
          .ok());
  CHECK_FALSE(
      VerifyServerCertificate(issued->ca_pem, issued->cert_pem, "10.0.0.1", kNow - 7200).ok());
  // Two issues: two keys, the same CA.
  auto again = IssueServerCertificate(key, "node-1", {"10.0.0.1"}, kNow);
  REQUIRE(again.ok());
  CHECK(again->key_pem != issued->key_pem);
  CHECK(again->ca_pem == issued->ca_pem);
  // The node name alone when no names are given.
  auto bare = IssueServerCertificate(key, "node-2", {}, kNow);
  REQUIRE(bare.ok());
  CHECK(VerifyServerCertificate(bare->ca_pem, bare->cert_pem, "node-2", kNow).ok());
}

TEST_CASE("API TLS: names that are neither addresses nor host names are refused", "[unit]") {
  const net::Key key = net::Keyring::Generate();
  for (const char* bad : {"", "a,DNS:evil.example", "host name", "x/y", "IP:1.2.3.4"}) {
    INFO(bad);
    CHECK(IssueServerCertificate(key, "node-1", {bad}, kNow).status().code() ==
          StatusCode::kInvalidArgument);
  }
  CHECK(VerifyServerCertificate("not a pem", "nor this", "10.0.0.1", kNow).code() ==
        StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace starling::auth
