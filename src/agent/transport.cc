#include "src/agent/transport.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "src/agent/clock.h"

namespace starling::agent {
namespace {

using asio::ip::tcp;

// Closes the socket when `timeout` passes, failing whatever operation is pending on it, and
// remembers that it did. cancel() disarms it.
class Deadline {
 public:
  Deadline(asio::io_context& io, const std::shared_ptr<tcp::socket>& socket, Duration timeout)
      : timer_(std::make_shared<asio::steady_timer>(io, timeout)),
        fired_(std::make_shared<bool>(false)) {
    timer_->async_wait(
        [weak = std::weak_ptr<tcp::socket>(socket), fired = fired_](const asio::error_code& ec) {
          if (ec) return;
          *fired = true;
          if (auto open = weak.lock()) {
            asio::error_code ignored;
            open->close(ignored);
          }
        });
  }
  ~Deadline() { timer_->cancel(); }
  bool fired() const { return *fired_; }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
  std::shared_ptr<bool> fired_;
};

// Frames above this are sealed and opened off the io thread.
constexpr size_t kBulkFrameBytes = 64 << 10;
// How much an untrusted frame's buffer grows at a time.
constexpr size_t kReadStepBytes = 64 << 10;

std::array<uint8_t, 4> FrameHeader(size_t sealed_size) {
  const auto size = static_cast<uint32_t>(sealed_size);
  return {static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
          static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)};
}

}  // namespace

StreamTransport::StreamTransport(asio::io_context& io, net::Sealer* sealer,
                                 TransportOptions options)
    : io_(io), sealer_(sealer), options_(options), acceptor_(io) {}

StreamTransport::~StreamTransport() {
  *alive_ = false;
  Close();
}

Status StreamTransport::Bind(const tcp::endpoint& endpoint) {
  asio::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot bind TCP " + endpoint.address().to_string() + ":" +
                               std::to_string(endpoint.port()) + ": " + ec.message());
  }
  return Status::Ok();
}

void StreamTransport::Handle(char kind, Handler handler) {
  handlers_[static_cast<unsigned char>(kind)] = std::move(handler);
}

void StreamTransport::Start() { asio::co_spawn(io_, Accept(), asio::detached); }

void StreamTransport::Close() {
  closed_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);
  for (auto& [peer, pooled] : idle_) {
    for (auto& entry : pooled) entry.socket->close(ignored);
  }
  idle_.clear();
}

void StreamTransport::Sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::erase_if(it->second, [&](const Pooled& entry) {
      if (now - entry.since < options_.idle_close) return false;
      asio::error_code ignored;
      entry.socket->close(ignored);
      return true;
    });
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
}

TransportStats StreamTransport::stats() const {
  TransportStats out = stats_;
  out.idle_pooled = 0;
  for (const auto& [peer, pooled] : idle_) out.idle_pooled += pooled.size();
  return out;
}

std::shared_ptr<tcp::socket> StreamTransport::TakeIdle(const std::string& peer) {
  auto it = idle_.find(peer);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto socket = std::move(it->second.back().socket);  // the most recently used: likeliest alive
  it->second.pop_back();
  if (it->second.empty()) idle_.erase(it);
  return socket;
}

void StreamTransport::PutIdle(const std::string& peer, std::shared_ptr<tcp::socket> socket) {
  auto& pooled = idle_[peer];
  if (closed_ || static_cast<int>(pooled.size()) >= options_.max_idle_per_peer) {
    asio::error_code ignored;
    socket->close(ignored);
    if (pooled.empty()) idle_.erase(peer);
    return;
  }
  pooled.push_back({std::move(socket), std::chrono::steady_clock::now()});
}

asio::awaitable<std::optional<Frame>> StreamTransport::ReadFrame(tcp::socket& socket,
                                                                 size_t max_bytes,
                                                                 bool incremental) {
  asio::error_code ec;
  uint8_t header[4];
  co_await asio::async_read(socket, asio::buffer(header),
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;
  const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                        (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (size == 0 || size > max_bytes) {
    ++stats_.rejected;
    co_return std::nullopt;
  }
  std::string body;
  // Untrusted: memory follows the bytes received, not the length announced.
  const size_t step = incremental ? kReadStepBytes : size;
  for (size_t got = 0; got < size;) {
    const size_t now = std::min<size_t>(step, size - got);
    body.resize(got + now);
    co_await asio::async_read(socket, asio::buffer(body.data() + got, now),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    got += now;
  }
  Result<std::string> plain = Status::Unavailable("not opened");
  if (body.size() > kBulkFrameBytes) {
    auto open = asio::co_spawn(
        crypto_.get_executor(),
        [sealer = sealer_, body = std::move(body)]() -> asio::awaitable<Result<std::string>> {
          co_return sealer->Open(net::Channel::kStream, body, WallMs());
        },
        asio::use_awaitable);
    plain = co_await std::move(open);
  } else {
    plain = sealer_->Open(net::Channel::kStream, body, WallMs());
  }
  if (!plain.ok() || plain->empty()) {
    ++stats_.rejected;
    spdlog::debug("rejected stream frame: {}", plain.status().ToString());
    co_return std::nullopt;
  }
  co_return Frame{std::move(plain.value())};
}

asio::awaitable<bool> StreamTransport::WriteFrame(tcp::socket& socket, char kind,
                                                  std::string payload) {
  auto seal = [sealer = sealer_, kind](const std::string& body) {
    std::string plain;
    plain.reserve(1 + body.size());
    plain.push_back(kind);
    plain += body;
    return sealer->Seal(net::Channel::kStream, plain, WallMs());
  };
  std::string sealed;
  if (payload.size() > kBulkFrameBytes) {
    auto sealing = asio::co_spawn(
        crypto_.get_executor(),
        [seal, payload = std::move(payload)]() -> asio::awaitable<std::string> {
          co_return seal(payload);
        },
        asio::use_awaitable);
    sealed = co_await std::move(sealing);
  } else {
    sealed = seal(payload);
  }
  const auto header = FrameHeader(sealed.size());
  // Header and body go out together without being copied into one buffer.
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(sealed)};
  asio::error_code ec;
  co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

asio::awaitable<Result<Frame>> StreamTransport::Request(gossip::Address to, char kind,
                                                        std::string payload, Duration timeout) {
  auto alive = alive_;
  ++stats_.requests;
  asio::error_code ec;
  const auto address = asio::ip::make_address(to.host, ec);
  if (ec) co_return Status::InvalidArgument("not an IP address: " + to.host);
  const std::string peer = to.ToString();
  const auto end = std::chrono::steady_clock::now() + timeout;
  // A pooled connection first; if the peer closed it meanwhile, once more on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!*alive || closed_) co_return Status::Unavailable("the transport is closed");
    auto socket = TakeIdle(peer);
    const bool reused = socket != nullptr;
    const auto left = std::chrono::duration_cast<Duration>(end - std::chrono::steady_clock::now());
    if (left <= Duration::zero()) break;
    if (!reused) socket = std::make_shared<tcp::socket>(io_);
    Deadline deadline(io_, socket, left);
    if (!reused) {
      ++stats_.connects;
      co_await socket->async_connect(tcp::endpoint(address, to.port),
                                     asio::redirect_error(asio::use_awaitable, ec));
      if (!*alive) co_return Status::Unavailable("the transport is closed");
      if (ec) {
        ++stats_.failed;
        if (deadline.fired()) co_return Status::Timeout("no connection to " + peer + " in time");
        if (ec == asio::error::connection_refused) {
          co_return Status::Unavailable("connection to " + peer + " refused");
        }
        co_return Status::IoError("connecting to " + peer + ": " + ec.message());
      }
      asio::ip::tcp::no_delay nodelay(true);
      socket->set_option(nodelay, ec);
    } else {
      ++stats_.reused;
    }
    std::optional<Frame> reply;
    bool said_hello = reused;
    if (!reused) {
      auto hello = WriteFrame(*socket, frame::kHello, peer);  // the recipient it is meant for
      said_hello = co_await std::move(hello);
    }
    auto write = WriteFrame(*socket, kind, payload);  // a copy: a retry sends it again
    if (said_hello && co_await std::move(write)) {
      auto read = ReadFrame(*socket, options_.max_frame_bytes, /*incremental=*/false);
      reply = co_await std::move(read);
    }
    if (!*alive) co_return Status::Unavailable("the transport is closed");
    if (reply && reply->kind() == kind) {
      PutIdle(peer, std::move(socket));
      co_return std::move(*reply);
    }
    asio::error_code ignored;
    socket->close(ignored);
    if (deadline.fired()) {
      ++stats_.failed;
      co_return Status::Timeout("no reply from " + peer + " in time");
    }
    if (!reused || reply) break;  // a fresh connection failed, or the peer answered wrongly
  }
  ++stats_.failed;
  co_return Status::IoError("no reply from " + peer);
}

asio::awaitable<void> StreamTransport::Accept() {
  auto alive = alive_;
  for (;;) {
    asio::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive || ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;
    const auto from = socket.remote_endpoint(ec);
    if (ec) continue;
    const auto held = inbound_by_address_.find(from.address());
    const int from_address = held == inbound_by_address_.end() ? 0 : held->second;
    if (stats_.inbound_open >= options_.max_inbound ||
        from_address >= options_.max_inbound_per_address) {
      ++stats_.refused;
      continue;  // dropped: closes the socket
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    asio::co_spawn(io_, Serve(std::make_shared<tcp::socket>(std::move(socket)), from.address()),
                   asio::detached);
  }
}

asio::awaitable<bool> StreamTransport::ReadHello(std::shared_ptr<tcp::socket> socket) {
  std::optional<Frame> hello;
  {
    Deadline idle(io_, socket, options_.serve_idle);
    hello = co_await ReadFrame(*socket, kHelloBytes, /*incremental=*/false);
  }
  bool valid = hello && hello->kind() == frame::kHello;
  if (valid && !options_.self_addresses.empty()) {
    valid = std::find(options_.self_addresses.begin(), options_.self_addresses.end(),
                      hello->payload()) != options_.self_addresses.end();
    if (!valid) {
      spdlog::info("refused a connection meant for {}, which is not this node's address",
                   hello->payload());
    }
  }
  if (!valid) ++stats_.rejected_hello;
  co_return valid;
}

asio::awaitable<void> StreamTransport::Serve(std::shared_ptr<tcp::socket> socket,
                                             asio::ip::address from) {
  auto alive = alive_;
  ++stats_.inbound_open;
  ++inbound_by_address_[from];
  auto hello = ReadHello(socket);
  bool serving = co_await std::move(hello);
  if (!*alive) co_return;
  while (serving) {
    std::optional<Frame> request;
    {
      Deadline idle(io_, socket, options_.serve_idle);
      request = co_await ReadFrame(*socket, options_.max_request_bytes, /*incremental=*/true);
    }
    if (!*alive) co_return;
    if (!request || closed_ || refusing_) break;
    const char kind = request->kind();
    const Handler& handler = handlers_[static_cast<unsigned char>(kind)];
    if (!handler) {
      ++stats_.rejected;
      spdlog::debug("stream frame of unknown kind {:#x}", static_cast<unsigned char>(kind));
      break;
    }
    auto handled = handler(std::move(*request));  // named: see ImageService::OffThread
    Result<std::string> reply = co_await std::move(handled);
    if (!*alive) co_return;
    if (!reply.ok()) {
      spdlog::debug("rejected stream request: {}", reply.status().ToString());
      break;
    }
    bool written = false;
    {
      Deadline writing(io_, socket, options_.reply_timeout);
      auto write = WriteFrame(*socket, kind, std::move(*reply));
      written = co_await std::move(write);
    }
    if (!*alive) co_return;
    if (!written) break;
    ++stats_.served;
  }
  asio::error_code ignored;
  socket->close(ignored);
  --stats_.inbound_open;
  if (--inbound_by_address_[from] <= 0) inbound_by_address_.erase(from);
}

}  // namespace starling::agent
