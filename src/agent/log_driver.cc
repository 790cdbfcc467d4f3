#include "src/agent/log_driver.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

namespace starling::agent {
namespace {

constexpr int kMaxServes = 4;  // peers' exchanges handed to the log at once; beyond, "busy"
constexpr auto kExchangeTimeout = Seconds(10);

}  // namespace

LogDriver::LogDriver(asio::io_context& io, CoreTime time, const std::string& node_name,
                     const std::string& directory, StreamTransport* transport, Hooks hooks)
    : io_(io),
      time_(time),
      node_name_(node_name),
      directory_(directory),
      transport_(transport),
      hooks_(std::move(hooks)) {}

LogDriver::~LogDriver() { Stop(); }

Status LogDriver::Open() {
  auto storage = store::RocksDbStorage::Open(directory_);
  if (!storage.ok()) return storage.status();
  storage_ = std::move(storage.value());
  uint64_t seed = 0, store_id = 0;
  randombytes_buf(&seed, sizeof(seed));
  randombytes_buf(&store_id, sizeof(store_id));
  replica_ =
      std::make_unique<store::Replica>(store::ReplicaOptions(), node_name_, storage_.get(), seed);
  if (Status s = replica_->Open(static_cast<uint64_t>(WallMs()), store_id); !s.ok()) return s;
  origin_ = replica_->origin();
  own_entries_at_open_ = store::HeadOf(replica_->heads(), origin_);
  {
    std::lock_guard lock(stats_mutex_);
    stats_ = replica_->stats();
    busy_reply_ = replica_->BusyReply();
  }
  changes_seen_ = stats_.applied + stats_.writes;
  work_.emplace(asio::make_work_guard(log_io_));
  thread_ = std::thread([this] { log_io_.run(); });
  asio::post(log_io_, [this] { Reschedule(); });
  return Status::Ok();
}

void LogDriver::Stop() {
  *alive_ = false;
  if (!thread_.joinable()) return;
  asio::post(log_io_, [this] { timer_.Cancel(); });
  work_.reset();
  log_io_.stop();
  thread_.join();
}

template <typename F>
void LogDriver::Step(F&& step) {
  store::StoreOutbox out;
  step(&out);
  Drain(&out);
}

void LogDriver::Drain(store::StoreOutbox* out) {
  for (auto& request : out->requests) {
    asio::co_spawn(io_, Exchange(std::move(request)), asio::detached);
  }
  for (auto& ack : out->acks) {
    auto it = pending_.find(ack.ticket);
    if (it == pending_.end()) continue;  // a write acknowledged with the batch's last
    Result<Written> result = ack.status.ok()
                                 ? Result<Written>(Written{ack.entry.origin, ack.entry.seq})
                                 : Result<Written>(ack.status);
    asio::post(io_, [done = std::move(it->second.done), result = std::move(result)] {
      if (done) done(result);
    });
    pending_.erase(it);
  }
  if (!out->broadcasts.empty()) {
    asio::post(io_, [this, alive = alive_, news = std::move(out->broadcasts)]() mutable {
      if (!*alive) return;
      for (auto& item : news) hooks_.broadcast(std::move(item));
    });
  }
  out->Clear();
  {
    std::lock_guard lock(stats_mutex_);
    stats_ = replica_->stats();
    busy_reply_ = replica_->BusyReply();
  }
  const uint64_t changes = stats_.applied + stats_.writes;
  if (changes != changes_seen_) {
    changes_seen_ = changes;
    if (!changed_posted_.exchange(true)) {
      asio::post(io_, [this, alive = alive_] {
        if (!*alive) return;
        changed_posted_ = false;
        hooks_.changed();
      });
    }
  }
  Reschedule();
}

void LogDriver::Reschedule() {
  timer_.Arm(replica_->NextWake(), [this] {
    Step([&](store::StoreOutbox* out) {
      replica_->Tick(time_.Now(), static_cast<uint64_t>(WallMs()), out);
    });
  });
}

// Group commit: every write queued before this runs shares one synced batch.
void LogDriver::ScheduleFlush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(log_io_, [this] {
    flush_posted_ = false;
    Step([&](store::StoreOutbox* out) {
      if (Status s = replica_->Flush(time_.Now(), out); !s.ok()) {
        spdlog::error("state log: {}", s.ToString());
      }
    });
  });
}

Result<Written> LogDriver::WriteAndWait(std::vector<Put> puts, store::AckMode mode,
                                        Duration timeout) {
  auto promise = std::make_shared<std::promise<Result<Written>>>();
  auto future = promise->get_future();
  Write(std::move(puts), mode, timeout,
        [promise](Result<Written> written) { promise->set_value(std::move(written)); });
  if (future.wait_for(timeout + Seconds(2)) != std::future_status::ready) {
    return Status::Unavailable("the agent did not answer in time");
  }
  return future.get();
}

void LogDriver::Write(std::vector<Put> puts, store::AckMode mode, Duration timeout,
                      std::function<void(Result<Written>)> done) {
  asio::post(log_io_, [this, puts = std::move(puts), mode, timeout,
                       done = std::move(done)]() mutable {
    auto fail = [&](Status status) {
      asio::post(io_, [done = std::move(done), status] {
        if (done) done(status);
      });
    };
    if (puts.empty()) return fail(Status::InvalidArgument("nothing to write"));
    const Instant now = time_.Now();
    uint64_t ticket = 0;
    for (size_t i = 0; i < puts.size(); ++i) {
      const bool last = i + 1 == puts.size();
      auto written = replica_->Write(now, static_cast<uint64_t>(WallMs()), std::move(puts[i].key),
                                     std::move(puts[i].value), puts[i].tombstone,
                                     last ? mode : store::AckMode::kLocal, now + timeout);
      if (!written.ok()) {
        if (i > 0) ScheduleFlush();  // the ones before stay queued: written, unacknowledged
        return fail(written.status());
      }
      ticket = *written;
    }
    pending_[ticket] = Pending{std::move(done)};
    ScheduleFlush();
  });
}

void LogDriver::WriteLocal(std::string key, std::string value, bool tombstone) {
  std::string what = key;
  Write({{std::move(key), std::move(value), tombstone}}, store::AckMode::kLocal, Seconds(5),
        [what = std::move(what)](Result<Written> written) {
          if (!written.ok()) {
            spdlog::error("state log write of {}: {}", what, written.status().ToString());
          }
        });
}

Result<std::optional<store::Entry>> LogDriver::Get(std::string_view key) const {
  return storage_->GetState(key);
}

Status LogDriver::Scan(std::string_view prefix, std::vector<store::Entry>* out) const {
  return storage_->ScanState(prefix, "", SIZE_MAX, SIZE_MAX, out);
}

void LogDriver::SetLivePeers(std::vector<std::string> peers) {
  asio::post(log_io_, [this, peers = std::move(peers)] {
    Step([&](store::StoreOutbox* out) { replica_->SetLivePeers(time_.Now(), peers, out); });
  });
}

void LogDriver::OnBroadcast(std::string news) {
  asio::post(log_io_, [this, news = std::move(news)] {
    Step([&](store::StoreOutbox* out) {
      Status s = replica_->OnBroadcast(time_.Now(), static_cast<uint64_t>(WallMs()), news, out);
      if (!s.ok()) spdlog::debug("undecodable state log news: {}", s.ToString());
    });
  });
}

asio::awaitable<void> LogDriver::Exchange(store::StoreOutbox::Request request) {
  auto alive = alive_;
  Result<Frame> reply = Status::Unavailable(request.peer + " is not a live member");
  if (auto address = hooks_.address_of(request.peer)) {
    auto exchange =
        transport_->Request(*address, frame::kLog, std::move(request.bytes), kExchangeTimeout);
    reply = co_await std::move(exchange);
  }
  if (!*alive) co_return;
  asio::post(log_io_, [this, peer = std::move(request.peer), reply = std::move(reply)] {
    Step([&](store::StoreOutbox* out) {
      if (!reply.ok()) {
        replica_->OnRequestFailed(time_.Now(), peer, out);
        return;
      }
      Status s = replica_->OnReply(time_.Now(), static_cast<uint64_t>(WallMs()), peer,
                                   reply->payload(), out);
      if (!s.ok()) spdlog::debug("state log reply from {}: {}", peer, s.ToString());
      if (s.ok()) exchanged_ = true;
    });
  });
}

asio::awaitable<Result<std::string>> LogDriver::Serve(Frame request) {
  if (serving_ >= kMaxServes) {
    std::lock_guard lock(stats_mutex_);
    co_return busy_reply_;
  }
  ++serving_;
  auto alive = alive_;
  auto served = asio::co_spawn(
      log_io_,
      [this, request = std::move(request)]() -> asio::awaitable<Result<std::string>> {
        Result<std::string> reply = Status::Unavailable("not served");
        Step([&](store::StoreOutbox* out) {
          reply = replica_->OnRequest(time_.Now(), static_cast<uint64_t>(WallMs()),
                                      request.payload(), out);
        });
        co_return reply;
      },
      asio::use_awaitable);
  Result<std::string> reply = co_await std::move(served);
  if (!*alive) co_return Status::Unavailable("the state log stopped");
  --serving_;
  co_return reply;
}

store::ReplicaStats LogDriver::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

}  // namespace starling::agent
