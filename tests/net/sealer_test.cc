#include "src/net/sealer.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace starling::net {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

TEST_CASE("sealed messages open with the same key and channel only", "[unit]") {
  const Key key = Keyring::Generate();
  Sealer a(Keyring({key}), 60000, 1 << 16);
  Sealer b(Keyring({key}), 60000, 1 << 16);
  Sealer stranger(Keyring({Keyring::Generate()}), 60000, 1 << 16);
  const std::string sealed = a.Seal(Channel::kDatagram, "hello", kNow);
  CHECK(sealed.size() == 5 + Sealer::kOverheadBytes);
  auto opened = b.Open(Channel::kDatagram, sealed, kNow + 5);
  REQUIRE(opened.ok());
  CHECK(*opened == "hello");
  CHECK_FALSE(stranger.Open(Channel::kDatagram, sealed, kNow).ok());
  CHECK(stranger.stats().rejected_auth == 1);
  CHECK_FALSE(b.Open(Channel::kStream, a.Seal(Channel::kDatagram, "x", kNow), kNow).ok());
}

TEST_CASE("a message bound to its recipient opens for that recipient only", "[unit]") {
  const Key key = Keyring::Generate();
  Sealer a(Keyring({key}), 60000, 1 << 16);
  Sealer b(Keyring({key}), 60000, 1 << 16);
  Sealer c(Keyring({key}), 60000, 1 << 16);
  const std::string to_b = a.Seal(Channel::kDatagram, "ping", kNow, "10.0.0.2:7946");
  // Replayed to another node: it does not open there, nor as an unbound message.
  CHECK_FALSE(c.Open(Channel::kDatagram, to_b, kNow, {"10.0.0.3:7946"}).ok());
  CHECK_FALSE(c.Open(Channel::kDatagram, to_b, kNow).ok());
  CHECK(c.stats().rejected_auth == 2);
  // Its recipient, under any of the names it answers to.
  auto opened = b.Open(Channel::kDatagram, to_b, kNow, {"127.0.0.1:7946", "10.0.0.2:7946"});
  REQUIRE(opened.ok());
  CHECK(*opened == "ping");
  // An unbound message does not open for a node that asks for binding.
  CHECK_FALSE(
      b.Open(Channel::kDatagram, a.Seal(Channel::kDatagram, "x", kNow), kNow, {"10.0.0.2:7946"})
          .ok());
}

TEST_CASE("tampering, truncation, replay and stale messages are rejected and counted", "[unit]") {
  const Key key = Keyring::Generate();
  Sealer sender(Keyring({key}), 60000, 1 << 16);
  Sealer receiver(Keyring({key}), 60000, 1 << 16);
  const std::string sealed = sender.Seal(Channel::kDatagram, "payload", kNow);

  std::string tampered = sealed;
  tampered[tampered.size() / 2] ^= 1;
  CHECK_FALSE(receiver.Open(Channel::kDatagram, tampered, kNow).ok());
  CHECK_FALSE(receiver.Open(Channel::kDatagram, sealed.substr(0, 10), kNow).ok());
  std::string wrong_format = sealed;
  wrong_format[0] = 9;
  CHECK_FALSE(receiver.Open(Channel::kDatagram, wrong_format, kNow).ok());

  REQUIRE(receiver.Open(Channel::kDatagram, sealed, kNow).ok());
  auto replayed = receiver.Open(Channel::kDatagram, sealed, kNow + 1);
  REQUIRE_FALSE(replayed.ok());
  CHECK(replayed.status().message() == "replayed message");

  const std::string old = sender.Seal(Channel::kDatagram, "old", kNow - 61000);
  CHECK_FALSE(receiver.Open(Channel::kDatagram, old, kNow).ok());

  const auto& stats = receiver.stats();
  CHECK(stats.rejected_auth == 1);
  CHECK(stats.rejected_short == 1);
  CHECK(stats.rejected_format == 1);
  CHECK(stats.rejected_replay == 1);
  CHECK(stats.rejected_stale == 1);
  CHECK(stats.opened == 1);
}

TEST_CASE("oversized messages are rejected before any work", "[unit]") {
  const Key key = Keyring::Generate();
  Sealer sender(Keyring({key}), 60000, 1 << 20);
  Sealer receiver(Keyring({key}), 60000, 100);
  CHECK_FALSE(
      receiver
          .Open(Channel::kStream, sender.Seal(Channel::kStream, std::string(101, 'x'), kNow), kNow)
          .ok());
  CHECK(receiver.stats().rejected_oversize == 1);
}

TEST_CASE("key rotation: install, use, remove keeps both sides talking", "[unit]") {
  const Key old_key = Keyring::Generate(), new_key = Keyring::Generate();
  Sealer a(Keyring({old_key}), 60000, 1 << 16);
  Sealer b(Keyring({old_key}), 60000, 1 << 16);
  REQUIRE(a.ChangeKeyring([&](Keyring& k) { return k.Install(new_key); }).ok());
  REQUIRE(b.ChangeKeyring([&](Keyring& k) { return k.Install(new_key); }).ok());
  REQUIRE(a.ChangeKeyring([&](Keyring& k) {
             return k.Use(new_key);
           }).ok());  // a seals with the new key, b still uses the old
  CHECK(b.Open(Channel::kDatagram, a.Seal(Channel::kDatagram, "1", kNow), kNow).ok());
  CHECK(a.Open(Channel::kDatagram, b.Seal(Channel::kDatagram, "2", kNow), kNow).ok());
  REQUIRE(b.ChangeKeyring([&](Keyring& k) { return k.Use(new_key); }).ok());
  CHECK(a.ChangeKeyring([&](Keyring& k) { return k.Remove(new_key); }).code() ==
        StatusCode::kFailedPrecondition);  // primary
  REQUIRE(a.ChangeKeyring([&](Keyring& k) { return k.Remove(old_key); }).ok());
  REQUIRE(b.ChangeKeyring([&](Keyring& k) { return k.Remove(old_key); }).ok());
  CHECK(b.Open(Channel::kDatagram, a.Seal(Channel::kDatagram, "3", kNow), kNow).ok());
  CHECK(a.ChangeKeyring([&](Keyring& k) { return k.Use(old_key); }).code() ==
        StatusCode::kNotFound);
}

TEST_CASE("key files parse with clear errors", "[unit]") {
  const Key key = Keyring::Generate();
  auto parsed = Keyring::Parse("# comment\n\n" + Keyring::EncodeKey(key) + "\n");
  REQUIRE(parsed.ok());
  CHECK(parsed->primary() == key);
  auto round = Keyring::Parse(parsed->Serialize());
  REQUIRE(round.ok());
  CHECK(round->keys() == parsed->keys());
  CHECK(Keyring::Parse("").status().message() == "key file holds no key");
  auto bad = Keyring::Parse("# x\nnot-base64!\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("line 2") != std::string::npos);
  CHECK_FALSE(Keyring::Parse("c2hvcnQ=\n").ok());  // "short": not 32 bytes
  CHECK(Keyring::Fingerprint(key).size() == 16);
}

TEST_CASE("one sealer on several threads, through a key rotation", "[unit]") {
  const Key old_key = Keyring::Generate(), new_key = Keyring::Generate();
  Sealer sealer(Keyring({old_key}), 60000, 1 << 20);
  Sealer peer(Keyring({old_key}), 60000, 1 << 20);
  REQUIRE(peer.ChangeKeyring([&](Keyring& k) { return k.Install(new_key); }).ok());
  std::atomic<int> opened{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      const std::string big(t == 0 ? (256 << 10) : 64, 'x');  // a bulk frame and small ones
      for (int i = 0; i < 300; ++i) {
        const std::string sealed = sealer.Seal(Channel::kStream, big, kNow);
        if (peer.Open(Channel::kStream, sealed, kNow).ok()) {
          ++opened;
        } else {
          ++failed;
        }
        if (!sealer.Open(Channel::kStream, peer.Seal(Channel::kStream, big, kNow), kNow).ok()) {
          ++failed;
        }
      }
    });
  }
  // Rotating meanwhile: every message seals with one whole keyring or the other.
  REQUIRE(sealer.ChangeKeyring([&](Keyring& k) { return k.Install(new_key); }).ok());
  REQUIRE(sealer.ChangeKeyring([&](Keyring& k) { return k.Use(new_key); }).ok());
  for (auto& thread : threads) thread.join();
  CHECK(opened == 900);
  CHECK(failed == 0);
  const SealerStats stats = sealer.stats();
  CHECK(stats.sealed == 900);
  CHECK(stats.opened == 900);
  CHECK(sealer.keyring().primary() == new_key);
}

}  // namespace
}  // namespace starling::net
