// libFuzzer target for everything a stranger can send: sealed datagrams and frames, and (for a
// holder of the key) the plaintext datagram, push-pull and state log decoders, the membership
// core's and the state log replica's handling of them, stored site records, and image manifests and
// chunk transfer messages. Build: cmake
// -DSTARLING_FUZZ=ON with clang; run: fuzz_datagram -max_total_time=60 corpus/
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gossip/codec.h"
#include "gossip/swim.h"
#include "src/net/sealer.h"
#include "src/sites/site.h"
#include "store/codec.h"
#include "store/images/manifest.h"
#include "store/images/transfer.h"
#include "store/memory_storage.h"
#include "store/replica.h"

namespace {

using namespace starling;

gossip::Swim& Core() {
  static gossip::Swim core(gossip::SwimOptions(), "fuzz", {"127.0.0.1", 7946},
                           {gossip::Role::kWorker, 1, "127.0.0.1:7947", "fuzz"}, 1, 1,
                           Instant(Seconds(1)));
  return core;
}

net::Sealer& Sealer() {
  static net::Sealer sealer(net::Keyring({net::Keyring::Generate()}), 60000, 1 << 20);
  return sealer;
}

store::Replica& Log() {
  static store::MemoryStorage storage;
  static store::Replica replica = [] {
    store::Replica r(store::ReplicaOptions(), "fuzz", &storage, 1);
    STARLING_CHECK(r.Open(1'800'000'000'000, 1).ok());
    return r;
  }();
  return replica;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)Sealer().Open(net::Channel::kDatagram, bytes, 1'800'000'000'000);
  (void)gossip::DecodeDatagram(bytes);
  (void)gossip::DecodePushPull(bytes);
  gossip::Outbox out;
  const uint32_t incarnation = Core().incarnation();
  if (!Core().OnDatagram(Instant(Seconds(2)), {"127.0.0.2", 7946}, bytes, &out).ok()) {
    // A rejected datagram must change nothing.
    STARLING_CHECK(out.empty());
    STARLING_CHECK(Core().incarnation() == incarnation);
  }
  (void)Core().OnPushPullRequest(Instant(Seconds(2)), bytes, &out);

  (void)store::DecodeEntry(bytes);
  (void)sites::Decode(bytes);
  (void)images::DecodeChunkRequest(bytes);
  (void)images::DecodeChunkReply(bytes);
  (void)images::Decode(bytes);  // manifests
  store::StoreOutbox log_out;
  const store::Digest heads = Log().heads();
  if (!store::DecodeExchange(bytes).ok()) {
    // Undecodable news or requests change nothing.
    STARLING_CHECK(
        !Log().OnBroadcast(Instant(Seconds(2)), 1'800'000'000'000, bytes, &log_out).ok());
    STARLING_CHECK(!Log().OnRequest(Instant(Seconds(2)), 1'800'000'000'000, bytes, &log_out).ok());
    STARLING_CHECK(log_out.empty());
    STARLING_CHECK(Log().heads() == heads);
  } else {
    (void)Log().OnBroadcast(Instant(Seconds(2)), 1'800'000'000'000, bytes, &log_out);
  }
  return 0;
}
