#include "src/agent/agent.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <httplib.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <array>
#include <asio.hpp>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/file.h"
#include "gossip/codec.h"
#include "gossip/swim.h"
#include "src/agent/balancer.h"
#include "src/agent/copies.h"
#include "src/agent/images.h"
#include "src/agent/metrics.h"
#include "src/net/sealer.h"
#include "src/sites/site.h"
#include "store/replica.h"
#include "store/rocksdb/rocksdb_storage.h"

namespace starling::agent {
namespace {

using asio::ip::tcp;
using asio::ip::udp;
using gossip::MemberEvent;
using gossip::Outbox;
using gossip::StreamRequest;
using json = nlohmann::json;

constexpr char kVersion[] = "0.1.0";
constexpr size_t kMaxFrameBytes = gossip::kMaxPushPullBytes + net::Sealer::kOverheadBytes + 1;
constexpr int kMaxInboundStreams = 64;
constexpr auto kStreamTimeout = std::chrono::seconds(10);
constexpr auto kQueryTimeout = std::chrono::seconds(3);
constexpr char kFramePushPull = 'P';
constexpr char kFramePing = 'I';
constexpr char kFrameLog = 'L';
constexpr char kFrameChunks = 'C';
constexpr char kLogEventName[] = "starling.log";  // state log news riding gossip
constexpr int kMaxLogServes = 4;  // replies being written at once; beyond, peers hear "busy"
constexpr auto kDefaultWriteTimeout = std::chrono::seconds(5);

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kTimeout:
      return 504;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

json ErrorJson(const Status& status) {
  return {{"error", status.message()}, {"status", HttpStatusOf(status)}};
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes `contents` to `path` atomically: a reader sees the old or the new file, never half.
Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents,
                           mode_t mode) {
  const std::string temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IoError("cannot write " + temporary + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      ::close(fd);
      return Status::IoError("write " + temporary + ": " + std::strerror(errno));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::IoError("fsync " + temporary);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return Status::IoError("rename to " + path.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

class AgentImpl final : public Agent {
 public:
  AgentImpl(AgentConfig config, net::Keyring keyring, uint32_t incarnation)
      : config_(std::move(config)),
        sealer_(std::move(keyring), config_.replay_window_ms, gossip::kMaxPushPullBytes + 1),
        incarnation_persisted_(incarnation),
        udp_(io_),
        acceptor_(io_),
        wake_timer_(io_),
        log_timer_(io_),
        housekeeping_timer_(io_),
        signals_(io_, SIGINT, SIGTERM) {}

  Status Start() {
    asio::error_code ec;
    const auto bind_address = asio::ip::make_address(config_.bind.host, ec);
    if (ec) return Status::InvalidArgument("bind host must be an IP address: " + config_.bind.host);
    udp::endpoint udp_endpoint(bind_address, config_.bind.port);
    udp_.open(udp_endpoint.protocol(), ec);
    if (!ec) udp_.bind(udp_endpoint, ec);
    if (ec) {
      return Status::Unavailable("cannot bind UDP " + config_.bind.ToString() + ": " +
                                 ec.message());
    }
    // Sends must never stall the core's thread: with a full socket buffer the datagram is
    // dropped instead, which SWIM treats like any other loss.
    udp_.non_blocking(true, ec);
    tcp::endpoint tcp_endpoint(bind_address, config_.bind.port);
    acceptor_.open(tcp_endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(tcp_endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Status::Unavailable("cannot bind TCP " + config_.bind.ToString() + ": " +
                                 ec.message());

    // Small responses go out at once: with Nagle on, a body written after its headers waits for
    // the client's delayed ACK (40 ms on Linux). Set before binding: accepted sockets inherit it.
    http_.set_tcp_nodelay(true);
    if (!http_.bind_to_port(config_.api.host, config_.api.port)) {
      return Status::Unavailable("cannot bind the HTTP API to " + config_.api.ToString());
    }
    RegisterApi();

    start_ = std::chrono::steady_clock::now();
    auto storage =
        store::RocksDbStorage::Open((std::filesystem::path(config_.data_dir) / "state").string());
    if (!storage.ok()) return storage.status();
    storage_ = std::move(storage.value());
    uint64_t log_seed = 0, store_id = 0;
    randombytes_buf(&log_seed, sizeof(log_seed));
    randombytes_buf(&store_id, sizeof(store_id));
    log_ = std::make_unique<store::Replica>(store::ReplicaOptions(), config_.node_name,
                                            storage_.get(), log_seed);
    if (Status s = log_->Open(static_cast<uint64_t>(WallMs()), store_id); !s.ok()) return s;
    auto chunks =
        images::ChunkStore::Open((std::filesystem::path(config_.data_dir) / "chunks").string());
    if (!chunks.ok()) return chunks.status();
    images_ = std::make_unique<ImageService>(
        io_, config_, std::move(chunks.value()), log_.get(),
        ImageService::Hooks{
            .write =
                [this](std::string key, std::string value, bool tombstone) {
                  auto ticket = log_->Write(Now(), static_cast<uint64_t>(WallMs()), std::move(key),
                                            std::move(value), tombstone, store::AckMode::kLocal,
                                            Now() + Seconds(5));
                  if (!ticket.ok())
                    spdlog::error("state log write: {}", ticket.status().ToString());
                  ScheduleFlush();
                },
            .exchange =
                [this](std::string peer, std::string payload) {
                  return ExchangeChunks(std::move(peer), std::move(payload));
                },
            .now = [this] { return Now(); }});
    // Copies need a container runtime; without one the node still gossips, replicates and
    // serves images, and says why it runs no copies.
    auto driver = copies::PickDriver(
        config_.copies.driver, (std::filesystem::path(config_.data_dir) / "runtime").string());
    if (driver.ok() && config_.role != gossip::Role::kBalancer) {
      spdlog::info(
          "copies run with the {} driver{}", (*driver)->name(),
          (*driver)->name() == "process" ? " (no isolation, no limits: development only)" : "");
      copies_ = std::make_unique<CopyService>(
          io_, config_, std::move(driver.value()), log_.get(), images_.get(),
          CopyService::Hooks{
              .write =
                  [this](std::string key, std::string value, bool tombstone) {
                    auto ticket = log_->Write(Now(), static_cast<uint64_t>(WallMs()),
                                              std::move(key), std::move(value), tombstone,
                                              store::AckMode::kLocal, Now() + Seconds(5));
                    if (!ticket.ok())
                      spdlog::error("state log write: {}", ticket.status().ToString());
                    ScheduleFlush();
                  },
              .now = [this] { return Now(); },
              .wall_ms = [] { return WallMs(); },
              .publish = [this] { PublishLoadIfChanged(/*force=*/true); },
              .drain = [this](const std::string& backend) { return Drain(backend); }});
      copies_->Recover();
    } else if (!driver.ok()) {
      spdlog::warn("no copies will run on this node: {}", driver.status().ToString());
    }
    if (config_.role != gossip::Role::kWorker) {
      balancer_ = std::make_unique<BalancerService>(io_, config_, log_.get());
      if (Status s = balancer_->Start(); !s.ok()) {
        spdlog::error("this node balances nothing: {}", s.ToString());
        balancer_->Stop();
        balancer_.reset();
      } else {
        spdlog::info("balancer: nginx serves {} ({} mode)", config_.balancer.listen,
                     config_.balancer.mode);
      }
    }
    // A node that cannot run copies offers no slots, so the rules place none on it.
    const uint32_t slots = !copies_ ? 0
                           : config_.capacity != 0
                               ? config_.capacity
                               : std::max(1u, std::thread::hardware_concurrency());
    gossip::NodeMeta meta{config_.role, slots, config_.api.ToString(), kVersion};
    uint64_t seed = 0;
    randombytes_buf(&seed, sizeof(seed));
    core_ = std::make_unique<gossip::Swim>(
        config_.swim, config_.node_name,
        gossip::Address{config_.advertise.host, config_.advertise.port}, meta,
        incarnation_persisted_, seed, Now());
    spdlog::info(
        "agent {} starting: gossip {} (advertise {}), api http://{}, profile {}, "
        "incarnation {}, state log {} at {} entries",
        config_.node_name, config_.bind.ToString(), config_.advertise.ToString(),
        config_.api.ToString(), config_.profile, incarnation_persisted_, log_->origin(),
        store::HeadOf(log_->heads(), log_->origin()));
    return Status::Ok();
  }

  int Run() override {
    asio::co_spawn(io_, ReceiveDatagrams(), asio::detached);
    asio::co_spawn(io_, AcceptStreams(), asio::detached);
    signals_.async_wait([this](const asio::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("signal {}: leaving the cluster", signal);
      BeginLeave();
    });
    if (!config_.join.empty()) {
      std::vector<std::string> seeds = config_.join;
      Step([&](Outbox* out) { JoinAddresses(seeds, out); });
    } else {
      Reschedule();
    }
    PublishLoadIfChanged();
    Housekeeping();
    std::thread http_thread([this] { http_.listen_after_bind(); });
    io_.run();
    http_.stop();
    http_thread.join();
    spdlog::info("agent {} stopped", config_.node_name);
    return 0;
  }

 private:
  Instant Now() const {
    return Instant(std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - start_));
  }
  std::chrono::steady_clock::time_point ToSteady(Instant instant) const {
    return start_ + instant.time_since_epoch();
  }

  // Runs one step of the core and carries out what it asks.
  template <typename F>
  void Step(F&& step) {
    Outbox out;
    step(&out);
    Drain(&out);
  }

  void Drain(Outbox* out) {
    for (auto& send : out->datagrams) {
      asio::error_code ec;
      auto address = asio::ip::make_address(send.to.host, ec);
      if (ec) continue;
      const std::string sealed = sealer_.Seal(net::Channel::kDatagram, send.bytes, WallMs());
      udp_.send_to(asio::buffer(sealed), udp::endpoint(address, send.to.port), 0, ec);
      if (ec) spdlog::debug("send to {}: {}", send.to.ToString(), ec.message());
    }
    for (auto& request : out->streams) {
      asio::co_spawn(io_, RunStream(std::move(request)), asio::detached);
    }
    bool membership_changed = false;
    std::vector<std::string> log_news;
    for (auto& event : out->events) {
      if (event.kind == MemberEvent::Kind::kUserEvent && event.event_name == kLogEventName) {
        log_news.push_back(std::move(event.payload));
        continue;
      }
      membership_changed |= event.kind != MemberEvent::Kind::kUserEvent;
      LogEvent(event);
    }
    out->Clear();
    if (balancer_ && !balancer_refresh_posted_) {
      balancer_refresh_posted_ = true;
      asio::post(io_, [this] {
        balancer_refresh_posted_ = false;
        RefreshBalancer();
      });
    }
    PersistIncarnation();
    Reschedule();
    if (!log_) return;
    if (membership_changed) UpdateLivePeers();
    for (const std::string& news : log_news) {
      LogStep([&](store::StoreOutbox* o) {
        Status s = log_->OnBroadcast(Now(), static_cast<uint64_t>(WallMs()), news, o);
        if (!s.ok()) spdlog::debug("undecodable state log news: {}", s.ToString());
      });
    }
  }

  // --- state log ------------------------------------------------------------------------------

  template <typename F>
  void LogStep(F&& step) {
    store::StoreOutbox out;
    step(&out);
    DrainLog(&out);
  }

  void DrainLog(store::StoreOutbox* out) {
    std::vector<store::StoreOutbox::Request> requests = std::move(out->requests);
    std::vector<std::string> broadcasts = std::move(out->broadcasts);
    std::vector<store::StoreOutbox::Ack> acks = std::move(out->acks);
    out->Clear();
    for (auto& request : requests) {
      asio::co_spawn(io_, RunLogRequest(std::move(request)), asio::detached);
    }
    for (auto& ack : acks) FinishWrite(ack);
    const uint64_t changes = log_->stats().applied + log_->stats().writes;
    if (changes != log_changes_seen_ && images_ && !refresh_posted_) {
      refresh_posted_ = true;
      asio::post(io_, [this] {
        refresh_posted_ = false;
        log_changes_seen_ = log_->stats().applied + log_->stats().writes;
        images_->Refresh();
        if (copies_ && !leaving_) copies_->Plan(CopyMembers());
      });
    }
    for (auto& news : broadcasts) {
      Step([&](Outbox* o) {
        core_->SendUserEvent(Now(), kLogEventName, std::move(news), o).IgnoreError();
      });
    }
    RescheduleLog();
  }

  void UpdateLivePeers() {
    std::vector<std::string> live;
    for (const gossip::Member* member : core_->members()) {
      if (member->status == gossip::MemberStatus::kAlive && member->name() != config_.node_name) {
        live.push_back(member->name());
      }
    }
    LogStep([&](store::StoreOutbox* o) { log_->SetLivePeers(Now(), live, o); });
    live.push_back(config_.node_name);
    if (images_) images_->SetMembers(std::move(live));
  }

  // One chunk request to a peer over the sealed TCP channel; the reply frame (kind byte first).
  asio::awaitable<std::optional<std::string>> ExchangeChunks(std::string peer,
                                                             std::string payload) {
    const gossip::Member* member = core_->FindMember(peer);
    if (member == nullptr || member->status != gossip::MemberStatus::kAlive) {
      co_return std::nullopt;
    }
    const gossip::Address to = member->address();
    auto socket = std::make_shared<tcp::socket>(io_);
    auto deadline = Deadline(socket, kStreamTimeout);
    asio::error_code ec;
    auto address = asio::ip::make_address(to.host, ec);
    std::optional<std::string> reply;
    if (!ec) {
      co_await socket->async_connect(tcp::endpoint(address, to.port),
                                     asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec && co_await WriteFrame(*socket, kFrameChunks, payload)) {
      reply = co_await ReadFrame(*socket);
    }
    deadline->cancel();
    if (!reply || reply->empty() || reply->front() != kFrameChunks) co_return std::nullopt;
    co_return reply;  // the frame kind stays in front: no copy of megabytes to drop one byte
  }

  void RescheduleLog() {
    ArmTimer(&log_timer_, &log_scheduled_, log_->NextWake(), [this] {
      LogStep(
          [&](store::StoreOutbox* o) { log_->Tick(Now(), static_cast<uint64_t>(WallMs()), o); });
    });
  }

  // Group commit: every write queued before this runs shares one synced batch.
  void ScheduleFlush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(io_, [this] {
      flush_posted_ = false;
      LogStep([&](store::StoreOutbox* o) {
        if (Status s = log_->Flush(Now(), o); !s.ok()) spdlog::error("state log: {}", s.ToString());
      });
    });
  }

  struct PendingWrite {
    std::shared_ptr<std::promise<json>> promise;
    json result;
  };

  void FinishWrite(const store::StoreOutbox::Ack& ack) {
    auto it = pending_writes_.find(ack.ticket);
    if (it == pending_writes_.end()) return;
    if (ack.status.ok()) {
      json result = it->second.result;
      result["written"] = {{"origin", ack.entry.origin}, {"seq", ack.entry.seq}};
      it->second.promise->set_value(result);
    } else {
      it->second.promise->set_value(ErrorJson(ack.status));
    }
    pending_writes_.erase(it);
  }

  asio::awaitable<void> RunLogRequest(store::StoreOutbox::Request request) {
    const gossip::Member* member = core_->FindMember(request.peer);
    std::optional<std::string> reply;
    if (member != nullptr) {
      const gossip::Address to = member->address();
      auto socket = std::make_shared<tcp::socket>(io_);
      auto deadline = Deadline(socket, kStreamTimeout);
      asio::error_code ec;
      auto address = asio::ip::make_address(to.host, ec);
      if (!ec) {
        co_await socket->async_connect(tcp::endpoint(address, to.port),
                                       asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec && co_await WriteFrame(*socket, kFrameLog, request.bytes)) {
        reply = co_await ReadFrame(*socket);
      }
      deadline->cancel();
    }
    if (!log_) co_return;
    LogStep([&](store::StoreOutbox* o) {
      if (!reply || reply->front() != kFrameLog) {
        log_->OnRequestFailed(Now(), request.peer, o);
        return;
      }
      Status s = log_->OnReply(Now(), static_cast<uint64_t>(WallMs()), request.peer,
                               std::string_view(*reply).substr(1), o);
      if (!s.ok()) spdlog::debug("state log reply from {}: {}", request.peer, s.ToString());
    });
  }

  void LogEvent(const MemberEvent& event) {
    switch (event.kind) {
      case MemberEvent::Kind::kUserEvent:
        spdlog::info("event received name={} origin={} bytes={}", event.event_name, event.name,
                     event.payload.size());
        break;
      case MemberEvent::Kind::kRefuted:
        spdlog::warn("refuted a suspicion of this node: incarnation now {}", event.incarnation);
        break;
      default:
        spdlog::info("member {} {} incarnation={}{}", gossip::MemberEventKindName(event.kind),
                     event.name, event.incarnation, event.from.empty() ? "" : " by=" + event.from);
    }
  }

  void PersistIncarnation() {
    const uint32_t incarnation = core_->incarnation();
    if (incarnation <= incarnation_persisted_) return;
    if (Status s = WriteIdentity(config_, incarnation); !s.ok()) {
      spdlog::error("cannot persist incarnation: {}", s.ToString());
      return;
    }
    incarnation_persisted_ = incarnation;
  }

  void Reschedule() {
    ArmTimer(&wake_timer_, &scheduled_, core_->NextWake(),
             [this] { Step([&](Outbox* out) { core_->Tick(Now(), out); }); });
  }

  // Sets `timer` to run `tick` at a core's next wake-up `next`, unless already set for then.
  // `scheduled` remembers the armed time, so a stale expiry does nothing.
  template <typename Tick>
  void ArmTimer(asio::steady_timer* timer, Instant* scheduled, Instant next, Tick tick) {
    if (next == *scheduled) return;
    *scheduled = next;
    if (next == kInstantMax) {
      timer->cancel();
      return;
    }
    timer->expires_at(ToSteady(next));
    timer->async_wait([scheduled, next, tick](const asio::error_code& ec) {
      if (ec || *scheduled != next) return;
      *scheduled = kInstantMax;
      tick();
    });
  }

  void Housekeeping() {
    housekeeping_timer_.expires_after(std::chrono::milliseconds(leaving_ ? 20 : 1000));
    housekeeping_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      if (leaving_) {
        if (core_->LeaveDone(Now())) {
          Shutdown();
          return;
        }
      } else {
        if (copies_) copies_->Tick(CopyMembers());
        RefreshBalancer();
        UpdateBalancerApis();
        PublishLoadIfChanged();
        images_->Refresh();
      }
      Housekeeping();
    });
  }

  // The balancer's view: each live worker's advertised host and the copies its report carries.
  void RefreshBalancer() {
    if (!balancer_ || leaving_) return;
    std::vector<balancer::WorkerCopies> workers;
    for (const gossip::Member* member : core_->members()) {
      const bool suspect = member->status == gossip::MemberStatus::kSuspect;
      if (member->status != gossip::MemberStatus::kAlive && !suspect) continue;
      if (member->meta().role == gossip::Role::kBalancer) continue;
      const gossip::LoadReport* load = core_->LoadOf(member->name());
      if (load == nullptr || load->copies.empty()) continue;
      workers.push_back({member->address().host, load->copies, suspect});
    }
    // The other balancers, for VRRP unicast: every one this node knows of that has not left
    // (a dead one stays: it may come back, and the address must not flap on a reload).
    std::vector<std::string> peers;
    for (const gossip::Member* member : core_->members()) {
      if (member->name() == config_.node_name || member->status == gossip::MemberStatus::kLeft)
        continue;
      if (member->meta().role == gossip::Role::kWorker) continue;
      peers.push_back(member->address().host);
    }
    balancer_->Update(workers, peers);
  }

  void UpdateBalancerApis() {
    std::vector<std::string> apis;
    for (const gossip::Member* member : core_->members()) {
      if (member->status != gossip::MemberStatus::kAlive) continue;
      if (member->meta().role == gossip::Role::kWorker || member->meta().api_address.empty())
        continue;
      apis.push_back(member->meta().api_address);
    }
    std::lock_guard lock(balancer_apis_mutex_);
    balancer_apis_ = std::move(apis);
  }

  // Blocks (a copy service pool thread) until every live balancer has taken `backend` out and
  // finished its requests to it, or 10 s passed. Returns what happened, for the copy's event.
  std::string Drain(const std::string& backend) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::set<std::string> done;
    size_t balancers = 0;
    while (true) {
      std::vector<std::string> apis;
      {
        std::lock_guard lock(balancer_apis_mutex_);
        apis = balancer_apis_;
      }
      balancers = apis.size();
      std::vector<std::string> pending;
      for (const auto& api : apis) {
        if (done.contains(api)) continue;
        auto parsed = ParseHostPort(api, "api");
        if (!parsed.ok()) continue;
        httplib::Client client(parsed->host, parsed->port);
        client.set_connection_timeout(1, 0);
        client.set_read_timeout(2, 0);
        auto answer = client.Get("/v1/balancer/drained?backend=" + backend);
        auto body =
            answer && answer->status == 200 ? json::parse(answer->body, nullptr, false) : json();
        if (body.is_object() && body.value("drained", false)) {
          done.insert(api);
        } else {
          pending.push_back(api);
        }
      }
      if (pending.empty()) {
        return balancers == 0 ? "no live balancer"
                              : fmt::format("out of all {} balancers' upstreams", balancers);
      }
      if (std::chrono::steady_clock::now() >= end) {
        return fmt::format("the 10 s drain deadline passed; not confirmed by {}",
                           fmt::join(pending, ", "));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the balancers
    }
  }

  // Live members as the copy rules see them: role, slots, and the copies their reports carry.
  std::vector<CopyService::Member> CopyMembers() const {
    std::vector<CopyService::Member> out;
    for (const gossip::Member* member : core_->members()) {
      if (member->status != gossip::MemberStatus::kAlive) continue;
      CopyService::Member view;
      view.name = member->name();
      view.worker = member->meta().role != gossip::Role::kBalancer;
      view.capacity = member->meta().capacity;
      if (const gossip::LoadReport* load = core_->LoadOf(member->name()))
        view.copies = load->copies;
      out.push_back(std::move(view));
    }
    return out;
  }

  // `force`: the copies changed (one serves, drains or is gone): publish now, not at the tick.
  void PublishLoadIfChanged(bool force = false) {
    double load1 = 0;
    std::ifstream loadavg("/proc/loadavg");
    loadavg >> load1;
    const auto now = Now();
    // Copies change the report every second (their load averages): it goes out each second
    // while the node runs any; otherwise when the node's load moves or every 30 s.
    const bool has_copies = copies_ && !copies_->Report().empty();
    if (!force && !has_copies && std::abs(load1 - last_load_) < 0.05 &&
        now - last_load_published_ < Seconds(30) && last_load_published_ != Instant{}) {
      return;
    }
    last_load_ = load1;
    last_load_published_ = now;
    gossip::LoadReport report;
    if (copies_) report.copies = copies_->Report();
    report.load1 = load1;
    report.cpu_count = std::max(1u, std::thread::hardware_concurrency());
    report.free_slots = core_->FindMember(config_.node_name)->meta().capacity;
    // A copy that starts serving or draining matters to the balancers now: they get the
    // report at once instead of at the next gossip round (≈ 100 ms on the default profile).
    std::vector<std::string> urgent;
    if (force) {
      for (const gossip::Member* member : core_->members()) {
        if (member->status == gossip::MemberStatus::kAlive &&
            member->meta().role != gossip::Role::kWorker && member->name() != config_.node_name) {
          urgent.push_back(member->name());
        }
      }
    }
    Step([&](Outbox* out) { core_->PublishLoad(now, report, out, urgent); });
  }

  void BeginLeave() {
    if (leaving_) return;
    leaving_ = true;
    Step([&](Outbox* out) { core_->Leave(Now(), out); });
    Housekeeping();
  }

  void Shutdown() {
    spdlog::info("left the cluster");
    if (copies_) copies_->StopAll();
    if (balancer_) balancer_->Stop();
    asio::error_code ignored;
    udp_.close(ignored);
    acceptor_.close(ignored);
    wake_timer_.cancel();
    log_timer_.cancel();
    housekeeping_timer_.cancel();
    signals_.cancel();
    http_.stop();
    io_.stop();
  }

  void JoinAddresses(const std::vector<std::string>& seeds, Outbox* out) {
    std::vector<gossip::Address> addresses;
    for (const auto& seed : seeds) {
      auto parsed = ParseHostPort(seed, "join address");
      if (!parsed.ok()) {
        spdlog::error("{}", parsed.status().message());
        continue;
      }
      asio::error_code ec;
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(parsed->host, std::to_string(parsed->port), ec);
      if (ec || results.empty()) {
        spdlog::error("cannot resolve join address {}: {}", seed, ec.message());
        continue;
      }
      auto endpoint = results.begin()->endpoint();
      addresses.push_back({endpoint.address().to_string(), endpoint.port()});
    }
    spdlog::info("joining via {} address(es)", addresses.size());
    core_->Join(Now(), addresses, out);
  }

  // --- streams ---------------------------------------------------------------------------

  // The big-endian length that precedes each sealed frame.
  static std::array<uint8_t, 4> FrameHeader(size_t sealed_size) {
    const auto size = static_cast<uint32_t>(sealed_size);
    return {static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
            static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)};
  }

  // Reads one frame; returns an empty optional on any error (logged at debug).
  asio::awaitable<std::optional<std::string>> ReadFrame(tcp::socket& socket) {
    asio::error_code ec;
    uint8_t header[4];
    co_await asio::async_read(socket, asio::buffer(header),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                          (uint32_t{header[2]} << 8) | uint32_t{header[3]};
    if (size == 0 || size > kMaxFrameBytes) co_return std::nullopt;
    std::string body(size, '\0');
    co_await asio::async_read(socket, asio::buffer(body),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    auto plain = sealer_.Open(net::Channel::kStream, body, WallMs());
    if (!plain.ok() || plain->empty()) {
      spdlog::debug("rejected stream frame: {}", plain.status().ToString());
      co_return std::nullopt;
    }
    co_return std::move(plain.value());
  }

  asio::awaitable<bool> WriteFrame(tcp::socket& socket, char kind, const std::string& payload) {
    std::string plain;
    plain.reserve(1 + payload.size());
    plain.push_back(kind);
    plain += payload;
    const std::string sealed = sealer_.Seal(net::Channel::kStream, plain, WallMs());
    const auto header = FrameHeader(sealed.size());
    // Header and body go out together without being copied into one buffer (chunk replies run
    // to megabytes).
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(sealed)};
    asio::error_code ec;
    co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }

  // Closes the socket when the deadline passes, failing whatever operation is pending.
  std::shared_ptr<asio::steady_timer> Deadline(const std::shared_ptr<tcp::socket>& socket,
                                               std::chrono::steady_clock::duration timeout) {
    auto timer = std::make_shared<asio::steady_timer>(io_, timeout);
    timer->async_wait([weak = std::weak_ptr<tcp::socket>(socket)](const asio::error_code& ec) {
      if (ec) return;
      if (auto s = weak.lock()) {
        asio::error_code ignored;
        s->close(ignored);
      }
    });
    return timer;
  }

  asio::awaitable<void> RunStream(StreamRequest request) {
    auto socket = std::make_shared<tcp::socket>(io_);
    const bool probe = request.kind == StreamRequest::Kind::kProbe;
    auto timeout =
        probe ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    config_.swim.probe_interval)
              : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kStreamTimeout);
    auto deadline = Deadline(socket, timeout);
    asio::error_code ec;
    auto address = asio::ip::make_address(request.to.host, ec);
    if (!ec) {
      co_await socket->async_connect(tcp::endpoint(address, request.to.port),
                                     asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      deadline->cancel();
      if (!core_) co_return;
      if (ec == asio::error::connection_refused && probe) {
        spdlog::debug("probe of {} refused: nothing listens at {}", request.target,
                      request.to.ToString());
        Step([&](Outbox* out) { core_->OnProbeRefused(Now(), request.target, request.seq, out); });
      } else {
        spdlog::debug("stream to {} failed: {}", request.to.ToString(), ec.message());
        Step([&](Outbox* out) { core_->OnStreamFailed(Now(), request, out); });
      }
      co_return;
    }
    const char kind = probe ? kFramePing : kFramePushPull;
    std::optional<std::string> reply;
    if (co_await WriteFrame(*socket, kind, request.bytes)) reply = co_await ReadFrame(*socket);
    deadline->cancel();
    if (!reply || reply->front() != kind) {
      Step([&](Outbox* out) { core_->OnStreamFailed(Now(), request, out); });
      co_return;
    }
    const std::string_view payload = std::string_view(*reply).substr(1);
    Step([&](Outbox* out) {
      Status status = probe ? core_->OnDatagram(Now(), request.to, payload, out)
                            : core_->OnPushPullReply(Now(), payload, out);
      if (!status.ok())
        spdlog::debug("bad reply from {}: {}", request.to.ToString(), status.ToString());
      if (request.join && status.ok()) spdlog::info("joined via {}", request.to.ToString());
    });
  }

  asio::awaitable<void> AcceptStreams() {
    for (;;) {
      asio::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;
      if (inbound_streams_ >= kMaxInboundStreams) continue;  // dropped: closes the socket
      asio::co_spawn(io_, ServeStream(std::make_shared<tcp::socket>(std::move(socket))),
                     asio::detached);
    }
  }

  asio::awaitable<void> ServeStream(std::shared_ptr<tcp::socket> socket) {
    ++inbound_streams_;
    auto deadline = Deadline(socket, kStreamTimeout);
    auto request = co_await ReadFrame(*socket);
    if (request && !leaving_) {
      const char kind = request->front();
      const std::string_view payload = std::string_view(*request).substr(1);
      Result<std::string> reply = Status::InvalidArgument("unknown frame kind");
      const bool log_request = kind == kFrameLog;
      if (log_request) {
        if (log_serves_ >= kMaxLogServes) {
          reply = log_->BusyReply();
        } else {
          LogStep([&](store::StoreOutbox* o) {
            reply = log_->OnRequest(Now(), static_cast<uint64_t>(WallMs()), payload, o);
          });
        }
        ++log_serves_;
      } else if (kind == kFramePushPull) {
        Step([&](Outbox* out) { reply = core_->OnPushPullRequest(Now(), payload, out); });
      } else if (kind == kFramePing) {
        reply = core_->OnStreamPing(Now(), payload);
      } else if (kind == kFrameChunks) {
        auto serve = images_->Serve(std::string(payload));  // named: see ImageService::OffThread
        std::string answer = co_await std::move(serve);
        if (!answer.empty()) {
          reply = std::move(answer);
        } else {
          reply = Status::InvalidArgument("undecodable chunk request");
        }
      }
      if (reply.ok()) {
        co_await WriteFrame(*socket, kind, *reply);
      } else {
        spdlog::debug("rejected stream request: {}", reply.status().ToString());
      }
      if (log_request) --log_serves_;
    }
    deadline->cancel();
    --inbound_streams_;
  }

  asio::awaitable<void> ReceiveDatagrams() {
    std::vector<char> buffer(65536);
    for (;;) {
      udp::endpoint from;
      asio::error_code ec;
      const size_t n = co_await udp_.async_receive_from(
          asio::buffer(buffer), from, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !udp_.is_open()) co_return;
      if (ec) continue;
      auto plain =
          sealer_.Open(net::Channel::kDatagram, std::string_view(buffer.data(), n), WallMs());
      if (!plain.ok()) {
        spdlog::debug("dropped datagram from {}:{}: {}", from.address().to_string(), from.port(),
                      plain.status().message());
        continue;
      }
      Step([&](Outbox* out) {
        Status status = core_->OnDatagram(
            Now(), gossip::Address{from.address().to_string(), from.port()}, *plain, out);
        if (!status.ok()) spdlog::debug("undecodable datagram: {}", status.ToString());
      });
    }
  }

  // --- HTTP API ------------------------------------------------------------------------------

  // Runs `query` on the io_context thread and waits for its answer.
  template <typename F>
  std::optional<json> Query(F&& query) {
    auto promise = std::make_shared<std::promise<json>>();
    auto future = promise->get_future();
    asio::post(
        io_, [promise, query = std::forward<F>(query)]() mutable { promise->set_value(query()); });
    if (future.wait_for(kQueryTimeout) != std::future_status::ready) return std::nullopt;
    return future.get();
  }

  static void Reply(httplib::Response& response, int status, const json& body) {
    response.status = status;
    response.set_content(body.dump(2, ' ', false, json::error_handler_t::replace) + "\n",
                         "application/json");
  }

  static std::optional<json> ParseBody(const httplib::Request& request,
                                       httplib::Response& response) {
    auto body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      Reply(response, 400, {{"error", "the request body must be a JSON object"}});
      return std::nullopt;
    }
    return body;
  }

  void Answer(httplib::Response& response, const std::optional<json>& answer) {
    if (!answer) {
      Reply(response, 503, {{"error", "the agent did not answer in time"}});
      return;
    }
    const int status = answer->contains("error") ? answer->value("status", 400) : 200;
    json body = *answer;
    body.erase("status");
    Reply(response, status, body);
  }

  json MembersJson() const {
    json members = json::array();
    for (const gossip::Member* member : core_->SortedMembers()) {
      const gossip::NodeMeta& meta = member->meta();
      json entry = {{"name", member->name()},
                    {"address", member->address().ToString()},
                    {"status", gossip::MemberStatusName(member->status)},
                    {"incarnation", member->incarnation},
                    {"role", gossip::RoleName(meta.role)},
                    {"capacity", meta.capacity},
                    {"api", meta.api_address},
                    {"version", meta.version},
                    {"status_age_s", ToSeconds(Now() - member->status_since)}};
      if (const auto* load = core_->LoadOf(member->name())) {
        entry["load"] = {{"version", load->version},
                         {"load1", load->load1},
                         {"cpu_count", load->cpu_count},
                         {"free_slots", load->free_slots}};
      } else {
        entry["load"] = nullptr;
      }
      members.push_back(std::move(entry));
    }
    return {{"self", config_.node_name}, {"members", members}};
  }

  json KeyringJson() {
    json keys = json::array();
    const auto& all = sealer_.keyring().keys();
    for (size_t i = 0; i < all.size(); ++i) {
      keys.push_back({{"fingerprint", net::Keyring::Fingerprint(all[i])}, {"primary", i == 0}});
    }
    return {{"keys", keys}};
  }

  json KeyringChange(const std::string& action, const std::string& key_text) {
    auto key = net::Keyring::DecodeKey(key_text);
    if (!key.ok()) return {{"error", key.status().message()}, {"status", 400}};
    net::Keyring& keyring = sealer_.keyring();
    Status status = action == "install" ? keyring.Install(*key)
                    : action == "use"   ? keyring.Use(*key)
                                        : keyring.Remove(*key);
    if (!status.ok()) {
      return {{"error", status.message()},
              {"status", status.code() == StatusCode::kNotFound ? 404 : 409}};
    }
    if (Status s = WriteFileAtomically(std::filesystem::path(config_.data_dir) / "keyring",
                                       keyring.Serialize(), 0600);
        !s.ok()) {
      return {{"error", s.ToString()}, {"status", 500}};
    }
    spdlog::info("keyring: {} {}", action, net::Keyring::Fingerprint(*key));
    return KeyringJson();
  }

  std::string Metrics() const {
    const auto& s = core_->stats();
    const auto& k = sealer_.stats();
    size_t counts[4] = {0, 0, 0, 0};
    for (const gossip::Member* member : core_->members())
      ++counts[static_cast<int>(member->status)];
    std::string out;
    auto line = [&out](std::string_view name, std::string_view labels, uint64_t value) {
      AppendMetric(&out, name, labels, value);
    };
    out += "# TYPE starling_members gauge\n";
    for (int i = 0; i < 4; ++i) {
      line("starling_members",
           "status=\"" +
               std::string(gossip::MemberStatusName(static_cast<gossip::MemberStatus>(i))) + "\"",
           counts[i]);
    }
    out += "# TYPE starling_health_score gauge\n";
    line("starling_health_score", "", static_cast<uint64_t>(core_->health_score()));
    out += "# TYPE starling_gossip_datagrams_total counter\n";
    line("starling_gossip_datagrams_total", "direction=\"received\"", s.datagrams_received);
    line("starling_gossip_datagrams_total", "direction=\"sent\"", s.datagrams_sent);
    line("starling_gossip_datagrams_total", "direction=\"undecodable\"", s.datagrams_rejected);
    out += "# TYPE starling_gossip_bytes_sent_total counter\n";
    line("starling_gossip_bytes_sent_total", "channel=\"udp\"", s.bytes_sent);
    line("starling_gossip_bytes_sent_total", "channel=\"tcp\"", s.stream_bytes_sent);
    out += "# TYPE starling_gossip_probes_total counter\n";
    line("starling_gossip_probes_total", "result=\"sent\"", s.probes);
    line("starling_gossip_probes_total", "result=\"failed\"", s.probes_failed);
    out += "# TYPE starling_sealed_rejected_total counter\n";
    line("starling_sealed_rejected_total", "reason=\"short\"", k.rejected_short);
    line("starling_sealed_rejected_total", "reason=\"oversize\"", k.rejected_oversize);
    line("starling_sealed_rejected_total", "reason=\"format\"", k.rejected_format);
    line("starling_sealed_rejected_total", "reason=\"auth\"", k.rejected_auth);
    line("starling_sealed_rejected_total", "reason=\"stale\"", k.rejected_stale);
    line("starling_sealed_rejected_total", "reason=\"replay\"", k.rejected_replay);
    const auto& l = log_->stats();
    out += "# TYPE starling_log_entries_total counter\n";
    line("starling_log_entries_total", "kind=\"written\"", l.writes);
    line("starling_log_entries_total", "kind=\"applied\"", l.applied);
    line("starling_log_entries_total", "kind=\"duplicate\"", l.duplicates);
    line("starling_log_entries_total", "kind=\"compacted\"", l.compacted);
    out += "# TYPE starling_log_exchanges_total counter\n";
    line("starling_log_exchanges_total", "direction=\"sent\"", l.requests_sent);
    line("starling_log_exchanges_total", "direction=\"served\"", l.requests_served);
    line("starling_log_exchanges_total", "direction=\"undecodable\"", l.rejected);
    out += "# TYPE starling_log_snapshots_total counter\n";
    line("starling_log_snapshots_total", "direction=\"served\"", l.snapshots_served);
    line("starling_log_snapshots_total", "direction=\"received\"", l.snapshots_received);
    out += "# TYPE starling_log_storage_errors_total counter\n";
    line("starling_log_storage_errors_total", "", l.storage_errors);
    out += images_->Metrics();
    return out;
  }

  // A write the API asked for: checked against the current state on the io thread, then
  // queued; the answer waits for the acknowledgement.
  struct WritePlan {
    std::string key;
    std::string value;
    bool tombstone = false;
    json result;  // what the caller gets once the write is acknowledged
    // Written alongside, acknowledged locally: (key, value, tombstone).
    std::vector<std::tuple<std::string, std::string, bool>> also = {};
  };

  template <typename Prepare>
  void WriteQuery(httplib::Response& response, store::AckMode mode,
                  std::chrono::milliseconds timeout, Prepare prepare) {
    auto promise = std::make_shared<std::promise<json>>();
    auto future = promise->get_future();
    asio::post(io_, [this, promise, mode, timeout, prepare = std::move(prepare)]() mutable {
      Result<WritePlan> plan = prepare();
      if (!plan.ok()) return promise->set_value(ErrorJson(plan.status()));
      for (auto& [key, value, tombstone] : plan->also) {
        auto written = log_->Write(Now(), static_cast<uint64_t>(WallMs()), std::move(key),
                                   std::move(value), tombstone, store::AckMode::kLocal,
                                   Now() + std::chrono::duration_cast<Duration>(timeout));
        if (!written.ok()) return promise->set_value(ErrorJson(written.status()));
      }
      auto ticket = log_->Write(Now(), static_cast<uint64_t>(WallMs()), std::move(plan->key),
                                std::move(plan->value), plan->tombstone, mode,
                                Now() + std::chrono::duration_cast<Duration>(timeout));
      if (!ticket.ok()) return promise->set_value(ErrorJson(ticket.status()));
      pending_writes_[*ticket] = PendingWrite{promise, std::move(plan->result)};
      ScheduleFlush();
    });
    if (future.wait_for(timeout + std::chrono::seconds(2)) != std::future_status::ready) {
      return Reply(response, 503, {{"error", "the agent did not answer in time"}});
    }
    Answer(response, future.get());
  }

  // ?ack=local|one|all-live&timeout_ms=N
  static Result<std::pair<store::AckMode, std::chrono::milliseconds>> WriteParams(
      const httplib::Request& request) {
    auto mode = store::ParseAckMode(request.get_param_value("ack"));
    if (!mode.ok()) return mode.status();
    std::chrono::milliseconds timeout = kDefaultWriteTimeout;
    if (request.has_param("timeout_ms")) {
      const std::string text = request.get_param_value("timeout_ms");
      char* end = nullptr;
      const long value = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || value < 1 || value > 600000) {
        return Status::InvalidArgument("timeout_ms must be a whole number from 1 to 600000");
      }
      timeout = std::chrono::milliseconds(value);
    }
    return std::make_pair(*mode, timeout);
  }

  Result<std::optional<sites::Site>> LoadSite(const std::string& name) {
    auto entry = log_->Get(sites::Key(name));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value() || (*entry)->tombstone) return std::optional<sites::Site>();
    auto site = sites::Decode((*entry)->value);
    if (!site.ok()) return site.status();
    return std::optional<sites::Site>(std::move(site.value()));
  }

  Result<std::vector<sites::Site>> LoadSites() {
    std::vector<store::Entry> entries;
    if (Status s = log_->Scan(sites::kKeyPrefix, &entries); !s.ok()) return s;
    std::vector<sites::Site> all;
    for (const auto& entry : entries) {
      if (entry.tombstone) continue;
      auto site = sites::Decode(entry.value);
      if (!site.ok()) return site.status();
      all.push_back(std::move(site.value()));
    }
    return all;
  }

  // A domain may belong to one site only (as far as this node knows).
  Status CheckDomainsFree(const sites::Site& site) {
    auto all = LoadSites();
    if (!all.ok()) return all.status();
    for (const auto& other : *all) {
      if (other.name == site.name) continue;
      for (const auto& domain : site.domains) {
        if (std::find(other.domains.begin(), other.domains.end(), domain) != other.domains.end()) {
          return Status::AlreadyExists("domain '" + domain + "' belongs to site '" + other.name +
                                       "'");
        }
      }
    }
    return Status::Ok();
  }

  Result<WritePlan> PlanSiteWrite(const std::string& name, const json& body, bool create) {
    if (Status s = sites::ValidateName(name); !s.ok()) return s;
    auto existing = LoadSite(name);
    if (!existing.ok()) return existing.status();
    if (create && existing->has_value()) {
      return Status::AlreadyExists("site '" + name + "' exists");
    }
    if (!create && !existing->has_value()) return Status::NotFound("no site '" + name + "'");
    sites::Site base = create ? sites::Site{} : **existing;
    base.name = name;
    auto site = sites::Apply(base, body, create);
    if (!site.ok()) return site.status();
    if (Status s = CheckDomainsFree(*site); !s.ok()) return s;
    return WritePlan{sites::Key(name), sites::Encode(*site), false, sites::ToJson(*site)};
  }

  json LogStatusJson() {
    json heads = json::object(), floors = json::object(), peers = json::array();
    for (const auto& [origin, head] : log_->heads()) heads[origin] = head;
    for (const auto& [origin, floor] : log_->floors()) floors[origin] = floor;
    for (const auto& peer : log_->live_peers()) {
      const bool known = log_->peer_digests().contains(peer);
      peers.push_back({{"name", peer}, {"lag", known ? json(log_->LagOf(peer)) : json(nullptr)}});
    }
    const auto& st = log_->stats();
    return {{"origin", log_->origin()},
            {"clock", log_->clock()},
            {"heads", heads},
            {"floors", floors},
            {"peers", peers},
            {"size_on_disk_bytes", log_->SizeOnDisk()},
            {"stats",
             {{"writes", st.writes},
              {"applied", st.applied},
              {"duplicates", st.duplicates},
              {"out_of_order", st.out_of_order},
              {"requests_sent", st.requests_sent},
              {"requests_served", st.requests_served},
              {"snapshots_served", st.snapshots_served},
              {"snapshots_received", st.snapshots_received},
              {"compacted", st.compacted},
              {"rejected", st.rejected},
              {"storage_errors", st.storage_errors}}}};
  }

  void RegisterSitesApi() {
    http_.Get("/v1/sites", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] {
               auto all = LoadSites();
               if (!all.ok()) return ErrorJson(all.status());
               json list = json::array();
               for (const auto& site : *all) list.push_back(sites::ToJson(site));
               return json{{"sites", list}};
             }));
    });
    http_.Get(R"(/v1/sites/([^/]+))",
              [this](const httplib::Request& request, httplib::Response& response) {
                const std::string name = request.matches[1];
                Answer(response, Query([this, name] {
                         if (Status s = sites::ValidateName(name); !s.ok()) return ErrorJson(s);
                         auto site = LoadSite(name);
                         if (!site.ok()) return ErrorJson(site.status());
                         if (!site->has_value())
                           return ErrorJson(Status::NotFound("no site '" + name + "'"));
                         return sites::ToJson(**site);
                       }));
              });
    http_.Post("/v1/sites", [this](const httplib::Request& request, httplib::Response& response) {
      auto body = ParseBody(request, response);
      if (!body) return;
      auto params = WriteParams(request);
      if (!params.ok()) return Reply(response, 400, {{"error", params.status().message()}});
      if (!body->contains("name") || !(*body)["name"].is_string()) {
        return Reply(response, 400, {{"error", "name must be a string"}});
      }
      const std::string name = (*body)["name"];
      WriteQuery(response, params->first, params->second,
                 [this, name, body = *body] { return PlanSiteWrite(name, body, true); });
    });
    http_.Patch(R"(/v1/sites/([^/]+))",
                [this](const httplib::Request& request, httplib::Response& response) {
                  auto body = ParseBody(request, response);
                  if (!body) return;
                  auto params = WriteParams(request);
                  if (!params.ok())
                    return Reply(response, 400, {{"error", params.status().message()}});
                  const std::string name = request.matches[1];
                  WriteQuery(response, params->first, params->second, [this, name, body = *body] {
                    return PlanSiteWrite(name, body, false);
                  });
                });
    http_.Delete(R"(/v1/sites/([^/]+))", [this](const httplib::Request& request,
                                                httplib::Response& response) {
      auto params = WriteParams(request);
      if (!params.ok()) return Reply(response, 400, {{"error", params.status().message()}});
      const std::string name = request.matches[1];
      WriteQuery(response, params->first, params->second, [this, name]() -> Result<WritePlan> {
        if (Status s = sites::ValidateName(name); !s.ok()) return s;
        auto existing = LoadSite(name);
        if (!existing.ok()) return existing.status();
        if (!existing->has_value()) return Status::NotFound("no site '" + name + "'");
        return WritePlan{sites::Key(name), "", true, {{"deleted", name}}};
      });
    });
    // Draining a node: the rules move its copies away (make-before-break) and place none on it
    // until it is undrained ("drain/<node>" in the state log).
    auto drain = [this](const httplib::Request& request, httplib::Response& response, bool on) {
      auto params = WriteParams(request);
      if (!params.ok()) return Reply(response, 400, {{"error", params.status().message()}});
      const std::string node = request.matches[1];
      WriteQuery(response, params->first, params->second, [this, node, on]() -> Result<WritePlan> {
        if (!gossip::IsValidName(node)) {
          return Status::InvalidArgument("a node name is 1-64 characters of [A-Za-z0-9._-]");
        }
        if (on && core_->FindMember(node) == nullptr) {
          return Status::NotFound("no member '" + node + "'");
        }
        return WritePlan{keys::Drain(node), on ? "1" : "", !on, {{"node", node}, {"draining", on}}};
      });
    };
    http_.Put(R"(/v1/drain/([^/]+))",
              [drain](const httplib::Request& request, httplib::Response& response) {
                drain(request, response, true);
              });
    http_.Delete(R"(/v1/drain/([^/]+))",
                 [drain](const httplib::Request& request, httplib::Response& response) {
                   drain(request, response, false);
                 });
    // A small key-value space on the state log, for operators and scripts ("kv/" keys).
    http_.Put(R"(/v1/kv/(.+))",
              [this](const httplib::Request& request, httplib::Response& response) {
                auto params = WriteParams(request);
                if (!params.ok())
                  return Reply(response, 400, {{"error", params.status().message()}});
                const std::string key = keys::Kv(std::string(request.matches[1]));
                std::string value = request.body;
                WriteQuery(response, params->first, params->second,
                           [key, value = std::move(value)]() -> Result<WritePlan> {
                             return WritePlan{key, value, false, {{"key", key.substr(3)}}};
                           });
              });
    http_.Get(R"(/v1/kv/(.+))",
              [this](const httplib::Request& request, httplib::Response& response) {
                const std::string key = keys::Kv(std::string(request.matches[1]));
                Answer(response, Query([this, key] {
                         auto entry = log_->Get(key);
                         if (!entry.ok()) return ErrorJson(entry.status());
                         if (!entry->has_value() || (*entry)->tombstone) {
                           return ErrorJson(Status::NotFound("no key '" + key.substr(3) + "'"));
                         }
                         return json{{"key", key.substr(3)}, {"value", (*entry)->value}};
                       }));
              });
    http_.Get("/v1/log/status", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] { return LogStatusJson(); }));
    });
  }

  void RegisterImagesApi() {
    // Push: import a directory or tar archive on this node as the site's new image version.
    http_.Post(R"(/v1/images/([^/]+))", [this](const httplib::Request& request,
                                               httplib::Response& response) {
      auto body = ParseBody(request, response);
      if (!body) return;
      auto params = WriteParams(request);
      if (!params.ok()) return Reply(response, 400, {{"error", params.status().message()}});
      const std::string site = request.matches[1];
      auto fields = PushFields(*body);
      if (!fields.ok()) return Reply(response, 400, {{"error", fields.status().message()}});
      auto previous = Query([this, site]() -> json {
        if (Status s = sites::ValidateName(site); !s.ok()) return ErrorJson(s);
        auto existing = LoadSite(site);
        if (!existing.ok()) return ErrorJson(existing.status());
        if (!existing->has_value()) {
          return ErrorJson(Status::NotFound("no site '" + site + "': create it first"));
        }
        auto latest = images_->Latest(site);
        return json{{"previous", latest ? images::EncodeRecord(*latest) : ""}};
      });
      if (!previous || previous->contains("error")) return Answer(response, previous);
      std::optional<images::ImageRecord> before;
      if (const std::string text = (*previous)["previous"]; !text.empty()) {
        if (auto decoded = images::DecodeRecord(text); decoded.ok()) before = *decoded;
      }
      images_->BeginImport();
      auto imported = images_->Import(site, fields->path, fields->command, fields->env,
                                      fields->allow_setuid, before);
      if (!imported.ok()) {
        images_->EndImport();
        return Answer(response, ErrorJson(imported.status()));
      }
      auto record = std::make_shared<images::ImageRecord>(imported->first);
      WriteQuery(response, params->first, params->second,
                 [this, site, record, summary = imported->second]() -> Result<WritePlan> {
                   WritePlan plan{images::RecordKey(site, record->version),
                                  images::EncodeRecord(*record), false, summary};
                   for (auto& key : images_->Expired(site, *record)) {
                     plan.also.emplace_back(std::move(key), "", true);
                   }
                   plan.result["removed_versions"] = plan.also.size();
                   return plan;
                 });
      // The version is among the node's own before garbage collection may run again.
      Query([this] {
        images_->Refresh();
        return json();
      });
      images_->EndImport();
    });
    http_.Get("/v1/images", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] { return images_->ListJson(""); }));
    });
    GetForSite(R"(/v1/images/([^/]+))",
               [this](const std::string& site) { return images_->ListJson(site); });
    GetForSite(R"(/v1/images/([^/]+)/status)",
               [this](const std::string& site) { return images_->StatusJson(site); });
    http_.Get(R"(/v1/images/([^/]+)/([0-9a-f]{64})/missing)",
              [this](const httplib::Request& request, httplib::Response& response) {
                const std::string site = request.matches[1], version = request.matches[2];
                Answer(response, Query([this, site, version] {
                         return images_->MissingJson(site, version, 100000);
                       }));
              });
    // Remove one version, or every version of a site.
    http_.Delete(
        R"(/v1/images/([^/]+)(?:/([0-9a-f]{64}))?)",
        [this](const httplib::Request& request, httplib::Response& response) {
          auto params = WriteParams(request);
          if (!params.ok()) return Reply(response, 400, {{"error", params.status().message()}});
          const std::string site = request.matches[1];
          const std::string version = request.matches[2];
          WriteQuery(response, params->first, params->second,
                     [this, site, version]() -> Result<WritePlan> {
                       if (Status s = sites::ValidateName(site); !s.ok()) return s;
                       std::vector<std::string> keys;
                       for (const auto& record : images_->Records(site)) {
                         if (version.empty() || record.version == version) {
                           keys.push_back(images::RecordKey(site, record.version));
                         }
                       }
                       if (keys.empty()) {
                         return Status::NotFound(
                             version.empty() ? "site '" + site + "' has no image"
                                             : "no version " + version + " of '" + site + "'");
                       }
                       WritePlan plan{keys.front(), "", true, {{"removed_versions", keys.size()}}};
                       for (size_t i = 1; i < keys.size(); ++i)
                         plan.also.emplace_back(keys[i], "", true);
                       return plan;
                     });
        });
    http_.Post("/v1/images-verify", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] {
               images_->Scrub();
               return json{{"verifying", true}};
             }));
    });
  }

  // A GET route whose first match is a site name: validated, then `query(site)` on the io thread.
  template <typename F>
  void GetForSite(const char* pattern, F query) {
    http_.Get(pattern, [this, query](const httplib::Request& request, httplib::Response& response) {
      const std::string site = request.matches[1];
      Answer(response, Query([site, query] {
               if (Status s = sites::ValidateName(site); !s.ok()) return ErrorJson(s);
               return query(site);
             }));
    });
  }

  struct PushRequest {
    std::string path;
    std::vector<std::string> command;
    std::vector<std::pair<std::string, std::string>> env;
    bool allow_setuid = false;
  };

  static Result<PushRequest> PushFields(const json& body) {
    static const std::set<std::string> kKnown = {"path", "command", "env", "allow_setuid"};
    for (const auto& [key, value] : body.items()) {
      if (!kKnown.contains(key)) return Status::InvalidArgument("unknown field '" + key + "'");
    }
    PushRequest push;
    if (!body.contains("path") || !body["path"].is_string()) {
      return Status::InvalidArgument("path must be a string: a directory or tar archive");
    }
    push.path = body["path"];
    if (push.path.empty() || push.path.front() != '/') {
      return Status::InvalidArgument("path must be absolute (it is read by the agent)");
    }
    if (body.contains("command")) {
      const json& command = body["command"];
      if (!command.is_array() || command.size() > 256) {
        return Status::InvalidArgument("command must be an array of at most 256 strings");
      }
      for (const auto& arg : command) {
        if (!arg.is_string() || arg.get<std::string>().size() > 4096) {
          return Status::InvalidArgument("command entries must be strings of at most 4 KiB");
        }
        push.command.push_back(arg);
      }
    }
    if (body.contains("env")) {
      const json& env = body["env"];
      if (!env.is_object() || env.size() > 256) {
        return Status::InvalidArgument("env must be an object of at most 256 strings");
      }
      for (const auto& [name, value] : env.items()) {
        if (name.empty() || name.find('=') != std::string::npos || !value.is_string()) {
          return Status::InvalidArgument("env names must be non-empty without '=', values strings");
        }
        push.env.emplace_back(name, value.get<std::string>());
      }
    }
    if (body.contains("allow_setuid")) {
      if (!body["allow_setuid"].is_boolean()) {
        return Status::InvalidArgument("allow_setuid must be true or false");
      }
      push.allow_setuid = body["allow_setuid"];
    }
    return push;
  }

  void RegisterApi() {
    RegisterSitesApi();
    RegisterImagesApi();
    http_.Get("/v1/members", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] { return MembersJson(); }));
    });
    // This node's copies and its recent decisions (`starling copies`, `starling events`).
    http_.Get("/v1/copies", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] {
               return json{{"copies", copies_ ? copies_->CopiesJson() : json::array()}};
             }));
    });
    http_.Get("/v1/balancer", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this]() -> json {
               if (!balancer_) return ErrorJson(Status::NotFound("this node runs no balancer"));
               auto state = balancer_->StateJson();
               state["node"] = config_.node_name;
               return state;
             }));
    });
    // Whether this balancer has taken a backend out and finished its requests to it (a
    // worker's drain before it stops a copy). Off the io thread: it asks nginx.
    http_.Get("/v1/balancer/drained",
              [this](const httplib::Request& request, httplib::Response& response) {
                const std::string backend = request.get_param_value("backend");
                if (backend.empty() || !ParseHostPort(backend, "backend").ok()) {
                  return Reply(response, 400, {{"error", "backend must be host:port"}});
                }
                if (!balancer_)
                  return Reply(response, 404, {{"error", "this node runs no balancer"}});
                auto drained = balancer_->Drained(backend);
                if (!drained.ok())
                  return Reply(response, 503, {{"error", drained.status().message()}});
                Reply(response, 200, {{"backend", backend}, {"drained", *drained}});
              });
    http_.Get("/v1/events", [this](const httplib::Request& request, httplib::Response& response) {
      uint64_t after = 0;
      if (request.has_param("after")) {
        const std::string text = request.get_param_value("after");
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), after);
        if (error != std::errc() || end != text.data() + text.size()) {
          Reply(response, 400, json{{"error", "after must be a sequence number"}});
          return;
        }
      }
      Answer(response, Query([this, after] {
               return json{{"events", copies_ ? copies_->EventsJson(after) : json::array()}};
             }));
    });
    http_.Get("/v1/self", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] {
               return json{{"name", config_.node_name},
                           {"incarnation", core_->incarnation()},
                           {"health_score", core_->health_score()},
                           {"alive", core_->AliveCount()}};
             }));
    });
    http_.Post("/v1/join", [this](const httplib::Request& request, httplib::Response& response) {
      auto body = ParseBody(request, response);
      if (!body) return;
      if (!body->contains("addresses") || !(*body)["addresses"].is_array() ||
          (*body)["addresses"].empty()) {
        return Reply(response, 400, {{"error", "addresses must be a non-empty array"}});
      }
      std::vector<std::string> seeds;
      for (const auto& item : (*body)["addresses"]) {
        if (!item.is_string()) return Reply(response, 400, {{"error", "addresses are strings"}});
        auto parsed = ParseHostPort(item.get<std::string>(), "address");
        if (!parsed.ok()) return Reply(response, 400, {{"error", parsed.status().message()}});
        seeds.push_back(parsed->ToString());
      }
      Answer(response, Query([this, seeds] {
               Step([&](Outbox* out) { JoinAddresses(seeds, out); });
               return json{{"joining", seeds}};
             }));
    });
    http_.Post("/v1/leave", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] {
               BeginLeave();
               return json{{"leaving", config_.node_name}};
             }));
    });
    http_.Post("/v1/event", [this](const httplib::Request& request, httplib::Response& response) {
      auto body = ParseBody(request, response);
      if (!body) return;
      const std::string name = body->value("name", "");
      const std::string payload = body->value("payload", "");
      if (name.starts_with("starling.")) {
        return Reply(response, 400,
                     {{"error", "event names starting with 'starling.' are reserved"}});
      }
      Answer(response, Query([this, name, payload] {
               Status status = Status::Ok();
               Step([&](Outbox* out) { status = core_->SendUserEvent(Now(), name, payload, out); });
               if (!status.ok()) return json{{"error", status.message()}, {"status", 400}};
               return json{{"sent", name}};
             }));
    });
    http_.Get("/v1/keyring", [this](const httplib::Request&, httplib::Response& response) {
      Answer(response, Query([this] { return KeyringJson(); }));
    });
    http_.Post(R"(/v1/keyring/(install|use|remove))", [this](const httplib::Request& request,
                                                             httplib::Response& response) {
      auto body = ParseBody(request, response);
      if (!body) return;
      const std::string action = request.matches[1];
      const std::string key = body->value("key", "");
      Answer(response, Query([this, action, key] { return KeyringChange(action, key); }));
    });
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
      auto answer = Query([this] { return json(Metrics()); });
      if (!answer) return Reply(response, 503, {{"error", "the agent did not answer in time"}});
      response.set_content(answer->get<std::string>(), "text/plain; version=0.0.4");
    });
    http_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
          Reply(response, 500, {{"error", "internal error"}});
        });
  }

 public:
  static Status WriteIdentity(const AgentConfig& config, uint32_t incarnation) {
    toml::table identity{{"node_name", config.node_name},
                         {"incarnation", static_cast<int64_t>(incarnation)}};
    std::ostringstream text;
    text << "# Written by starling agent. The incarnation only grows.\n" << identity << "\n";
    return WriteFileAtomically(std::filesystem::path(config.data_dir) / "identity.toml", text.str(),
                               0644);
  }

 private:
  AgentConfig config_;
  net::Sealer sealer_;
  uint32_t incarnation_persisted_;
  asio::io_context io_{1};
  udp::socket udp_;
  tcp::acceptor acceptor_;
  asio::steady_timer wake_timer_;
  asio::steady_timer log_timer_;
  Instant log_scheduled_ = kInstantMax;
  std::unique_ptr<store::RocksDbStorage> storage_;
  std::unique_ptr<store::Replica> log_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<CopyService> copies_;        // null when no container runtime works here
  std::unique_ptr<BalancerService> balancer_;  // null unless a balancer with a working nginx
  bool balancer_refresh_posted_ = false;
  std::mutex balancer_apis_mutex_;
  std::vector<std::string> balancer_apis_;  // live balancers' APIs (for drains, off the io thread)
  uint64_t log_changes_seen_ = 0;
  bool refresh_posted_ = false;
  std::map<uint64_t, PendingWrite> pending_writes_;
  bool flush_posted_ = false;
  int log_serves_ = 0;
  asio::steady_timer housekeeping_timer_;
  asio::signal_set signals_;
  httplib::Server http_;
  std::unique_ptr<gossip::Swim> core_;
  std::chrono::steady_clock::time_point start_;
  Instant scheduled_ = kInstantMax;
  bool leaving_ = false;
  int inbound_streams_ = 0;
  double last_load_ = -1;
  Instant last_load_published_{};
};

// The identity in the data dir: the node's name and the last incarnation it used.
Result<uint32_t> RestoreIncarnation(const AgentConfig& config) {
  const auto path = std::filesystem::path(config.data_dir) / "identity.toml";
  if (!std::filesystem::exists(path)) return uint32_t{0};
  try {
    auto identity = toml::parse_file(path.string());
    const auto name = identity["node_name"].value<std::string>();
    const auto incarnation = identity["incarnation"].value<int64_t>();
    if (!name || !incarnation || *incarnation < 0 || *incarnation > UINT32_MAX - 1) {
      return Status::Corruption(path.string() + " is damaged (node_name, incarnation)");
    }
    if (*name != config.node_name) {
      return Status::FailedPrecondition(path.string() + " belongs to node '" + *name + "', not '" +
                                        config.node_name + "'");
    }
    return static_cast<uint32_t>(*incarnation);
  } catch (const toml::parse_error& error) {
    return Status::Corruption(path.string() + ": " + std::string(error.description()));
  }
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::Create(AgentConfig config) {
  std::error_code fs_error;
  std::filesystem::create_directories(config.data_dir, fs_error);
  if (fs_error) {
    return Status::IoError("cannot create data_dir " + config.data_dir + ": " + fs_error.message());
  }
  auto previous = RestoreIncarnation(config);
  if (!previous.ok()) return previous.status();
  // A restarted node must out-rank everything it said in its previous life.
  const uint32_t incarnation = *previous + 1;
  if (Status s = AgentImpl::WriteIdentity(config, incarnation); !s.ok()) return s;

  // The keyring in the data dir (kept up to date by rotations) wins over the seed key file.
  const auto keyring_path = std::filesystem::path(config.data_dir) / "keyring";
  const bool have_keyring = std::filesystem::exists(keyring_path);
  auto text = ReadFile(have_keyring ? keyring_path : std::filesystem::path(config.key_file));
  if (!text.ok()) return text.status();
  auto keyring = net::Keyring::Parse(*text);
  if (!keyring.ok()) return keyring.status();
  if (!have_keyring) {
    if (Status s = WriteFileAtomically(keyring_path, keyring->Serialize(), 0600); !s.ok()) return s;
  }
  auto agent = std::make_unique<AgentImpl>(std::move(config), std::move(*keyring), incarnation);
  if (Status s = agent->Start(); !s.ok()) return s;
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace starling::agent
