#include "gossip/codec.h"

#include <catch2/catch.hpp>

#include "base/rng.h"

namespace starling::gossip {
namespace {

std::string Datagram(const std::vector<Message>& messages, const std::string& sender = "node-1") {
  std::string bytes;
  AppendItem(&bytes, EncodeHeader(sender));
  for (const auto& message : messages) AppendItem(&bytes, EncodeMessage(message));
  return bytes;
}

std::vector<Message> AllKinds() {
  const Address a{"127.0.0.1", 7946}, b{"::1", 8000};
  const NodeMeta meta{Role::kBalancer, 8, "127.0.0.1:7947", "0.1.0", /*database=*/true,
                      /*storage=*/true};
  LoadReport with_db{14, 0.5, 2, 1, 0, {}};
  with_db.database = {
      5, "e24dbeda-ecda-11f1-8bc6-aac7b1d4a644", 1234, "10.0.0.1:4567", "10.0.0.1:3306", 3};
  with_db.files = {4, true, false, 17};
  return {
      Ping{7, "node-2", "node-1", a},
      IndirectPing{8, "node-3", b, "node-1", a, true},
      Ack{9},
      Nack{10},
      Alive{3, "node-2", b, meta},
      Suspect{4, "node-3", "node-1"},
      Dead{5, "node-3", "node-3"},
      Load{"node-2", LoadReport{12, 1.75, 4, 3, 99, {}}},
      Load{"node-3",
           LoadReport{13,
                      2.5,
                      8,
                      6,
                      0,
                      {{"shop", 2.25f, true, 30001, false}, {"blog", 0, false, 30002, true}}}},
      Load{"node-4", with_db},
      UserEvent{"node-1", 42, "deploy", std::string("\0\x01payload", 9)},
  };
}

TEST_CASE("every message kind survives a round trip in one datagram", "[unit]") {
  const auto messages = AllKinds();
  auto decoded = DecodeDatagram(Datagram(messages));
  REQUIRE(decoded.ok());
  CHECK(decoded->sender == "node-1");
  CHECK(decoded->protocol_version == kProtocolVersion);
  REQUIRE(decoded->messages.size() == messages.size());
  for (size_t i = 0; i < messages.size(); ++i) CHECK(decoded->messages[i] == messages[i]);
}

TEST_CASE("push-pull state survives a round trip", "[unit]") {
  PushPull state;
  state.sender = "node-1";
  state.join = true;
  state.members = {
      {"node-1", {"127.0.0.1", 7946}, {Role::kWorker, 4, "x:1", "v"}, 2, MemberStatus::kAlive},
      {"node-2", {"127.0.0.2", 7946}, {Role::kBoth, 1, "", ""}, 9, MemberStatus::kLeft}};
  state.loads = {{"node-1", {3, 0.5, 2, 1, 0}}};
  auto decoded = DecodePushPull(EncodePushPull(state));
  REQUIRE(decoded.ok());
  CHECK(decoded->sender == state.sender);
  CHECK(decoded->join);
  CHECK(decoded->members == state.members);
  CHECK(decoded->loads == state.loads);
}

TEST_CASE("malformed datagrams are rejected with a reason", "[unit]") {
  const std::string good = Datagram({Ack{1}});
  struct Case {
    const char* what;
    std::string bytes;
  };
  std::string no_header;
  AppendItem(&no_header, EncodeMessage(Ack{1}));
  std::string bad_sender = Datagram({Ack{1}}, "bad name with spaces");
  std::string bad_target = Datagram({Ping{1, "", "node-1", {"127.0.0.1", 1}}});
  std::string zero_port = Datagram({Ping{1, "node-2", "node-1", {"127.0.0.1", 0}}});
  std::string big_payload =
      Datagram({UserEvent{"node-1", 1, "e", std::string(kMaxUserEventPayloadBytes + 1, 'x')}});
  LoadReport bad_db{1, 0, 1, 0, 0, {}};
  bad_db.database.state = kMaxDbState + 1;
  std::string bad_db_state = Datagram({Load{"node-2", bad_db}});
  bad_db.database = {1, std::string(kMaxMetaTextBytes + 1, 'u'), 1, "", "", 0};
  std::string long_db_uuid = Datagram({Load{"node-2", bad_db}});
  bad_db.database = {1, "", -7, "", "", 0};
  std::string bad_db_seqno = Datagram({Load{"node-2", bad_db}});
  LoadReport bad_files{1, 0, 1, 0, 0, {}};
  bad_files.files.state = kMaxFilesState + 1;
  std::string bad_files_state = Datagram({Load{"node-2", bad_files}});
  const Case cases[] = {
      {"unknown files state", bad_files_state},
      {"unknown database state", bad_db_state},
      {"database uuid too long", long_db_uuid},
      {"database seqno below -1", bad_db_seqno},
      {"empty", ""},
      {"truncated length", good.substr(0, 1)},
      {"truncated item", good.substr(0, good.size() - 3)},
      {"zero-length item", std::string("\0\0", 2)},
      {"no header", no_header},
      {"invalid sender", bad_sender},
      {"empty target", bad_target},
      {"port zero", zero_port},
      {"oversized event", big_payload},
      {"too large", std::string(kMaxDatagramBytes + 1, 'x')},
      {"garbage", std::string("\x05\x00\xff\xff\xff\xff\xff", 7)},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto decoded = DecodeDatagram(c.bytes);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.status().code() == StatusCode::kCorruption);
    CHECK_FALSE(decoded.status().message().empty());
  }
}

TEST_CASE("random bytes and mutations never crash the decoders", "[unit]") {
  Rng rng(1234);
  const std::string good = Datagram(AllKinds());
  PushPull state;
  state.sender = "node-1";
  state.members = {{"node-1", {"127.0.0.1", 7946}, {}, 1, MemberStatus::kAlive}};
  const std::string good_state = EncodePushPull(state);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = (i % 2 == 0) ? good : good_state;
    const int flips = 1 + static_cast<int>(rng.Uniform(8));
    for (int f = 0; f < flips; ++f) {
      bytes[rng.Uniform(bytes.size())] = static_cast<char>(rng.Uniform(256));
    }
    if (rng.Bernoulli(0.2)) bytes.resize(rng.Uniform(bytes.size() + 1));
    (void)DecodeDatagram(bytes);
    (void)DecodePushPull(bytes);
  }
  SUCCEED("20000 mutated inputs decoded or rejected without crashing");
}

}  // namespace
}  // namespace starling::gossip
