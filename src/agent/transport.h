// src/agent/transport.h — the one stream transport between agents (DESIGN.md §3): TCP with
// length-prefixed frames, each sealed with the cluster keyring, one request and one reply per
// exchange, dispatched by the frame's kind byte to the service that registered it. Connections
// to a peer are kept and reused (an exchange costs no connect and no new channel once warm); a
// pooled connection the peer closed meanwhile is retried once on a fresh one.
//
// Frame on the wire: [4-byte big-endian length][sealed(kind byte | payload)].
//
// Nothing big is read before it is authenticated: a new connection's first frame is a hello of at
// most kHelloBytes, sealed like any frame and naming the address it was sent to; only once it
// opens (right key, fresh, not replayed, meant for this node) does the connection take request
// frames up to max_request_bytes, and those are read as they arrive rather than allocated at the
// announced length. The requester writes its hello and first request together: no round trip.
// Inbound connections are bounded in all and per source address.
//
// Threading: everything runs on the io_context's thread; handlers run there too and must not
// block (they co_await work done elsewhere). Frames above 64 KiB are sealed and opened on a
// background pool: a chunk reply of megabytes costs milliseconds of cipher.
#pragma once

#include <array>
#include <asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "gossip/types.h"
#include "src/agent/background.h"
#include "src/net/sealer.h"

namespace starling::agent {

// Frame kinds: one per service that speaks over the transport.
namespace frame {
inline constexpr char kPushPull = 'P';  // membership: push-pull state exchange
inline constexpr char kPing = 'I';      // membership: Lifeguard's TCP fallback probe
inline constexpr char kLog = 'L';       // state log anti-entropy
inline constexpr char kChunks = 'C';    // image chunks
inline constexpr char kDrained = 'D';   // is a backend out of a balancer's upstreams?
inline constexpr char kHello = 'H';     // a connection's first frame: the address it is meant for
}  // namespace frame

// A received frame: its kind byte, then the payload (kept together: chunk replies run to
// megabytes, and dropping one byte in front would copy them).
struct Frame {
  std::string bytes;
  char kind() const { return bytes.empty() ? '\0' : bytes.front(); }
  std::string_view payload() const { return std::string_view(bytes).substr(1); }
};

// A hello's sealed bytes at most: the frame an unauthenticated connection may send.
inline constexpr size_t kHelloBytes = 512;

struct TransportOptions {
  size_t max_frame_bytes = 32u << 20;       // a reply's sealed bytes; a bigger length is refused
  size_t max_request_bytes = 32u << 20;     // an inbound request's, once its connection said hello
  std::vector<std::string> self_addresses;  // "host:port"s a hello may name; empty: any
  int max_inbound = 256;                    // connections served at once; more are closed
  int max_inbound_per_address = 16;         // of those, from one source address
  int max_idle_per_peer = 4;                // pooled connections kept per peer
  Duration idle_close = Seconds(20);        // a pooled connection unused this long is closed
  Duration serve_idle = Seconds(60);        // an inbound connection silent this long is closed
  Duration reply_timeout = Seconds(10);     // to write one reply
};

struct TransportStats {
  uint64_t requests = 0;        // sent
  uint64_t connects = 0;        // new connections made
  uint64_t reused = 0;          // requests sent on a pooled connection
  uint64_t failed = 0;          // requests that got no reply
  uint64_t served = 0;          // requests answered
  uint64_t refused = 0;         // inbound connections closed at the limit
  uint64_t rejected = 0;        // inbound frames that did not open, or of no known kind
  uint64_t rejected_hello = 0;  // connections whose first frame was no valid hello
  int inbound_open = 0;
  size_t idle_pooled = 0;
};

class StreamTransport {
 public:
  // A handler gets the request frame and returns the reply's payload, or an error (the connection
  // is then closed without a reply, which the requester sees as a failure).
  using Handler = std::function<asio::awaitable<Result<std::string>>(Frame request)>;

  // `sealer` must outlive the transport and is used on the io thread only.
  StreamTransport(asio::io_context& io, net::Sealer* sealer, TransportOptions options);
  ~StreamTransport();

  // Binds and listens (nothing is accepted before Start).
  Status Bind(const asio::ip::tcp::endpoint& endpoint);
  // Registers the handler for frames of `kind`. REQUIRES: before Start, one per kind.
  void Handle(char kind, Handler handler);
  void Start();
  // Stops accepting and closes pooled connections; exchanges in flight fail.
  void Close();
  // From now on, requests are not handled: their connections are closed (a leaving node).
  void Refuse() { refusing_ = true; }

  // One exchange with the agent at `to`: the reply's frame, or why not — kUnavailable when the
  // connection was refused (nothing listens there: Lifeguard takes that as evidence), kTimeout
  // when `timeout` passed, kIoError otherwise.
  asio::awaitable<Result<Frame>> Request(gossip::Address to, char kind, std::string payload,
                                         Duration timeout);

  // Closes pooled connections unused for longer than idle_close (housekeeping, each second).
  void Sweep();
  TransportStats stats() const;

 private:
  struct Pooled {
    std::shared_ptr<asio::ip::tcp::socket> socket;
    std::chrono::steady_clock::time_point since;
  };

  asio::awaitable<void> Accept();
  // Reads a new connection's hello: true when it opens and names one of our addresses.
  asio::awaitable<bool> ReadHello(std::shared_ptr<asio::ip::tcp::socket> socket);
  asio::awaitable<void> Serve(std::shared_ptr<asio::ip::tcp::socket> socket,
                              asio::ip::address from);
  // One frame of at most `max_bytes` sealed bytes. With `incremental`, the buffer grows with the
  // bytes that arrive instead of being allocated at the announced length (untrusted senders).
  asio::awaitable<std::optional<Frame>> ReadFrame(asio::ip::tcp::socket& socket, size_t max_bytes,
                                                  bool incremental);
  asio::awaitable<bool> WriteFrame(asio::ip::tcp::socket& socket, char kind, std::string payload);
  std::shared_ptr<asio::ip::tcp::socket> TakeIdle(const std::string& peer);
  void PutIdle(const std::string& peer, std::shared_ptr<asio::ip::tcp::socket> socket);

  asio::io_context& io_;
  net::Sealer* sealer_;
  TransportOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  std::array<Handler, 256> handlers_;
  std::map<std::string, std::vector<Pooled>> idle_;  // by "host:port"
  std::map<asio::ip::address, int> inbound_by_address_;
  TransportStats stats_;
  bool closed_ = false;
  bool refusing_ = false;
  BackgroundPool crypto_{2};  // seals and opens bulk frames, off the io thread
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace starling::agent
