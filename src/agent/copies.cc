#include "src/agent/copies.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "src/copies/log_bound.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent {

namespace {

using json = nlohmann::json;
using rules::CopyState;

// Whether nothing listens on `port` here (a bind to it succeeds). Blocking: a system call.
bool PortFree(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// The end of a copy's output (its bundle's log), which usually says why it stopped.
std::string OutputTail(const std::string& dir) { return ReadTail(dir + "/bundle/log", 300); }

}  // namespace

uint16_t PortRange::Allocate() {
  std::lock_guard lock(mutex_);
  for (uint32_t port = first_; port <= last_; ++port) {
    const auto candidate = static_cast<uint16_t>(port);
    if (!in_use_.contains(candidate) && PortFree(candidate)) {
      in_use_.insert(candidate);
      return candidate;
    }
  }
  return 0;
}

void PortRange::Release(uint16_t port) {
  std::lock_guard lock(mutex_);
  in_use_.erase(port);
}

CopyService::CopyService(asio::io_context& io, const AgentConfig& config,
                         std::unique_ptr<copies::Driver> driver, LogDriver* log,
                         ImageService* images, Hooks hooks)
    : sites_([](const std::string& value) -> std::optional<sites::Site> {
        auto site = sites::Decode(value);
        if (!site.ok()) return std::nullopt;
        return std::move(site.value());
      }),
      desired_([](const std::string& value) -> std::optional<uint32_t> {
        auto parsed = json::parse(value, nullptr, false);
        if (!parsed.is_object() || !parsed.contains("count") ||
            !parsed["count"].is_number_unsigned()) {
          return std::nullopt;
        }
        return parsed["count"].get<uint32_t>();
      }),
      releases_([](const std::string& value) -> std::optional<sites::Release> {
        auto release = sites::DecodeRelease(value);
        if (!release.ok()) return std::nullopt;
        return std::move(release.value());
      }),
      failures_([](const std::string& value) -> std::optional<sites::RolloutFailure> {
        auto failure = sites::DecodeRolloutFailure(value);
        if (!failure.ok()) return std::nullopt;
        return std::move(failure.value());
      }),
      io_(io),
      config_(config),
      driver_(std::move(driver)),
      log_(log),
      images_(images),
      hooks_(std::move(hooks)),
      events_(config.node_name, hooks_.wall_ms),
      ports_(config.copies.first_port, config.copies.last_port),
      resolv_conf_(std::filesystem::exists("/etc/resolv.conf") ? "/etc/resolv.conf" : "") {}

CopyService::~CopyService() {
  *alive_ = false;
  pool_.join();
  sampler_.join();
}

void CopyService::Failed(const std::string& site) {
  auto& [retry_at, failures] = backoff_[site];
  failures = std::min(failures + 1, 5);
  retry_at = hooks_.now() + Seconds(int64_t{1} << failures);  // 2, 4, ... 32 s
}

CopyService::Copy* CopyService::Find(const std::string& id) {
  auto it = copies_.find(id);
  return it == copies_.end() ? nullptr : &it->second;
}

bool CopyService::HasCopyOf(const std::string& site) const {
  return std::any_of(copies_.begin(), copies_.end(),
                     [&](const auto& entry) { return entry.second.site == site; });
}

void CopyService::FailedBeforeServing(const Copy& copy, const std::string& why) {
  Failed(copy.site);
  // The release is not rolled further (rules::StopsRollout): the copies of the release before
  // keep serving, new ones start on it, and the next release written rolls again.
  auto serving = serving_releases_.find(copy.site);
  const bool serves_elsewhere =
      serving != serving_releases_.end() && serving->second.contains(copy.release);
  if (!rules::StopsRollout(copy.replacing, serves_elsewhere) ||
      !stopped_said_.insert(copy.release).second) {
    return;
  }
  log_->WriteLocal(
      keys::Rollout(copy.site),
      sites::Encode(sites::RolloutFailure{
          .tag = copy.release, .why = why, .node = config_.node_name, .at_ms = hooks_.wall_ms()}),
      false);
  events_.Add({"site.rollout_stopped",
               copy.site,
               {{"version", copy.version}, {"copy", copy.id}, {"why", why}},
               "the rollout of " + copy.site + " to " + copy.version.substr(0, 12) +
                   " stops: its new copy " + copy.id + " " + why});
}

void CopyService::Recover() {
  auto listed = driver_->List();
  if (!listed.ok()) {
    spdlog::warn("copies: cannot list the runtime's containers: {}", listed.status().ToString());
    return;
  }
  for (const std::string& id : *listed) {
    // A copy from an earlier run: it is not ours to trust (its port and image may be stale),
    // so it stops; the rules start what is wanted again within a round.
    driver_->Stop(id, config_.copies.stop_grace).IgnoreError();
    const auto dir = (std::filesystem::path(config_.data_dir) / "copies" / id).string();
    if (Status s = images::RemoveCopyDir(dir); !s.ok()) {
      spdlog::warn("copies: {} left in place: {}", dir, s.ToString());
    }
    events_.Add({"copy.leftover",
                 "",
                 {{"copy", id}},
                 "stopped " + id + ", left by an earlier run of this node"});
  }
}

void CopyService::Serving(Copy& copy) {
  copy.state = CopyState::kServing;
  backoff_.erase(copy.site);
  const double ms = ToMilliseconds(hooks_.now() - copy.started);
  events_.Add({"copy.serving",
               copy.site,
               {{"copy", copy.id}, {"port", copy.port}, {"ms", ms}},
               fmt::format("copy {} of {} serves on port {} ({:.0f} ms after its start)", copy.id,
                           copy.site, copy.port, ms)});
  if (hooks_.publish) hooks_.publish();
}

// A fresh copy's port is tried every 5 ms for its first half second, then every 20 ms, then
// every second after 30 s, so it serves as soon as it answers rather than at the next round;
// by its site's start_timeout_s it has failed. The connects are non-blocking, on the io thread.
asio::awaitable<void> CopyService::WatchUntilServing(std::string id) {
  auto alive = alive_;
  asio::steady_timer pause(io_);
  auto starting = [&]() -> Copy* {
    Copy* copy = Find(id);
    return copy != nullptr && copy->state == CopyState::kStarting && !copy->busy ? copy : nullptr;
  };
  for (int tries = 0;; ++tries) {
    Copy* copy = starting();
    if (copy == nullptr) co_return;
    if (hooks_.now() - copy->started >= copy->start_timeout) {
      TimedOut(*copy);
      co_return;
    }
    asio::ip::tcp::socket socket(io_);
    asio::error_code ec;
    co_await socket.async_connect({asio::ip::address_v4::loopback(), copy->port},
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) co_return;
    copy = starting();
    if (copy == nullptr) co_return;
    if (!ec) {
      Serving(*copy);
      co_return;
    }
    const bool early = hooks_.now() - copy->started < Seconds(30);
    pause.expires_after(std::chrono::milliseconds(tries < 100 ? 5 : early ? 20 : 1000));
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) co_return;
  }
}

// The copy never answered on its port: its output's end is read on the pool, then it is
// failed (the site waits out the backoff here) and stopped, with an event quoting that output.
void CopyService::TimedOut(Copy& silent) {
  silent.busy = true;
  asio::post(pool_, [this, alive = alive_, site = silent.site, id = silent.id, dir = silent.dir] {
    std::string tail = OutputTail(dir);
    asio::post(io_, [this, alive, site, id, tail = std::move(tail)] {
      if (!*alive) return;
      Copy* found = Find(id);
      if (found == nullptr) return;
      Copy& copy = *found;
      copy.busy = false;
      copy.state = CopyState::kFailed;
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(copy.start_timeout);
      FailedBeforeServing(copy, fmt::format("did not answer within {} s", seconds.count()));
      Stop(id,
           {"copy.start_timeout",
            site,
            {{"seconds", seconds.count()}, {"output", tail}},
            fmt::format("copy {} of {} did not answer on port {} within {} s{}", id, site,
                        copy.port, seconds.count(),
                        tail.empty() ? " (it printed nothing)" : "; its output ends: " + tail)});
    });
  });
}

void CopyService::Tick(std::vector<rules::MemberReport> alive) {
  if (sampling_) return;  // the last sample is still being taken: this round waits for it
  std::vector<Sample> wanted;
  for (const auto& [id, copy] : copies_) {
    if (!copy.busy) wanted.push_back({id, Status::NotFound("not sampled"), 0, ""});
  }
  sampling_ = true;
  asio::post(sampler_, [this, alive_flag = alive_, wanted = std::move(wanted),
                        members = std::move(alive)]() mutable {
    for (Sample& sample : wanted) {
      if (!*alive_flag) return;
      // Its output kept bounded (a PHP stack logs every request there).
      const std::string log =
          (std::filesystem::path(config_.data_dir) / "copies" / sample.id / "bundle" / "log")
              .string();
      if (auto bounded = copies::BoundLog(log); !bounded.ok()) {
        spdlog::warn("copy {}: {}", sample.id, bounded.status().ToString());
      }
      sample.usage = driver_->Usage(sample.id);
      if (sample.usage.ok()) sample.runnable = copies::CountRunnable(sample.usage->threads);
      if (!sample.usage.ok() || sample.usage->threads.empty()) {
        sample.output_tail =
            OutputTail((std::filesystem::path(config_.data_dir) / "copies" / sample.id).string());
      }
    }
    asio::post(io_, [this, alive_flag, wanted = std::move(wanted),
                     members = std::move(members)]() mutable {
      if (!*alive_flag) return;
      sampling_ = false;
      ApplySamples(std::move(wanted), members);
    });
  });
}

void CopyService::ApplySamples(std::vector<Sample> samples,
                               const std::vector<rules::MemberReport>& alive) {
  for (Sample& sample : samples) {
    Copy* found = Find(sample.id);
    if (found == nullptr || found->busy) continue;
    Copy& copy = *found;
    if (!sample.usage.ok() || sample.usage->threads.empty()) {
      if (copy.state == CopyState::kFailed) continue;
      if (copy.state == CopyState::kStarting) {
        FailedBeforeServing(
            copy, "exited before serving" + (sample.output_tail.empty()
                                                 ? std::string()
                                                 : "; its output ends: " + sample.output_tail));
      }
      copy.state = CopyState::kFailed;
      const std::string why = sample.usage.ok() ? "" : ": " + sample.usage.status().message();
      events_.Add(
          {"copy.gone",
           copy.site,
           {{"copy", copy.id}, {"output", sample.output_tail}},
           "copy " + copy.id + " of " + copy.site + " is gone (its process exited" + why +
               (sample.output_tail.empty() ? "" : "; its output ends: " + sample.output_tail) +
               ")"});
      continue;
    }
    copy.load.Sample(sample.runnable);
    copy.cpu_micros = sample.usage->cpu_micros;
  }
  // Failed copies are cleaned up; the rules start the site again where they choose.
  std::vector<std::pair<std::string, std::string>> failed;  // id, site
  for (const auto& [id, copy] : copies_) {
    if (!copy.busy && copy.state == CopyState::kFailed) failed.emplace_back(id, copy.site);
  }
  for (const auto& [id, site] : failed) {
    Failed(site);
    Stop(id, {"copy.stop", site, {{"reason", "its process exited"}}, "its process exited"});
  }
  Plan(alive);
}

void CopyService::Start(const rules::SiteView& site, const rules::Decision& decision,
                        const sites::ReleaseState& release, bool replacing) {
  if (auto backoff = backoff_.find(site.name);
      backoff != backoff_.end() && backoff->second.first > hooks_.now()) {
    return;  // it failed here lately: wait before trying again
  }
  auto latest = images_->Record(site.name, release.start_version);
  if (!latest) return;  // no image pushed yet
  // Written out on demand (a node keeps only what its copies run); asked again next round.
  if (!images_->Materialized(site.name, latest->version)) {
    images_->Want(site.name, latest->version);
    return;
  }
  if (latest->command.empty()) {
    // Said once per version: the rules ask again every round.
    if (unstartable_.insert(latest->version).second) {
      events_.Add({"site.unstartable",
                   site.name,
                   {{"version", latest->version}},
                   "cannot start " + site.name + ": its image " + latest->version.substr(0, 12) +
                       " has no start command (starling image push --command ...)"});
    }
    return;
  }
  std::map<std::string, std::string> site_env;
  if (hooks_.site_env) {
    auto env = hooks_.site_env(site.name);
    if (!env.ok()) {
      // Its database is not made yet, or its password has not reached this node's log: the
      // next round (each second: only an unexpected error is worth a warning each time).
      if (env.status().code() == StatusCode::kUnavailable ||
          env.status().code() == StatusCode::kNotFound) {
        spdlog::debug("copy of {} not started yet: {}", site.name, env.status().message());
      } else {
        spdlog::warn("copy of {} not started: {}", site.name, env.status().ToString());
      }
      return;
    }
    site_env = std::move(env.value());
  }
  std::vector<files::PersistBind> persist;
  if (hooks_.site_files) {
    auto binds = hooks_.site_files(site.name, *latest);
    if (!binds.ok()) {
      // The files volume is not mounted here yet: the next round (a real error, each time).
      if (binds.status().code() == StatusCode::kUnavailable) {
        spdlog::debug("copy of {} not started yet: {}", site.name, binds.status().message());
      } else {
        spdlog::warn("copy of {} not started: {}", site.name, binds.status().ToString());
      }
      return;
    }
    persist = std::move(binds.value());
  }
  // A site sharing files runs as the same host ids on every worker (they own its files there).
  uint32_t id_base = 0;
  if (driver_->name() != "process" && config_.copies.user_namespaces) {
    id_base = IdBaseFor(site.name, /*home=*/!persist.empty());
    if (id_base == 0) {
      spdlog::warn(
          "copy of {} not started here: another site's copy holds its id range, and its "
          "files need the same ids on every worker",
          site.name);
      return;
    }
  }
  const std::vector<std::string> layers = images_->LayerDirs(site.name, latest->version);
  Copy copy;
  copy.site = site.name;
  copy.version = latest->version;
  copy.release = release.start_tag;
  copy.replacing = replacing;
  if (replacing) {
    for (const auto& [id, other] : copies_) {
      if (other.site == site.name && other.state == CopyState::kServing) {
        copy.load.StartFrom(other.load);
      }
    }
  }
  copy.id = std::string(copies::kIdPrefix) + site.name + "-" + RandomHex(4);
  copy.dir = (std::filesystem::path(config_.data_dir) / "copies" / copy.id).string();
  copy.busy = true;
  copy.started = hooks_.now();
  images_->Pin(copy.site, copy.version);
  events_.Add({replacing ? "copy.replace" : "copy.start",
               site.name,
               {{"copy", copy.id},
                {"version", copy.version},
                {"count", decision.count},
                {"in_view", decision.was}},
               decision.reason + " (" + copy.id + ", version " + copy.version.substr(0, 12) + ")"});
  copies::CopySpec spec;
  spec.id = copy.id;
  spec.command = latest->command;
  for (const auto& [name, value] : latest->env) spec.env[name] = value;
  for (const auto& [name, value] : site_env) spec.env[name] = value;
  spec.id_base = copy.id_base = id_base;
  spec.resolv_conf = resolv_conf_;
  for (const auto& bind : persist) spec.binds.emplace_back(bind.source, bind.destination);
  if (auto limits = limits_.find(site.name); limits != limits_.end()) {
    spec.memory_bytes = uint64_t{limits->second.memory_mb} << 20;
    spec.pids = limits->second.pids;
    copy.start_timeout = limits->second.start_timeout;
  }
  const std::string dir = copy.dir;
  const std::string id = copy.id;
  copies_.emplace(id, std::move(copy));
  asio::post(pool_, [this, alive = alive_, spec, layers, persist, dir, id]() mutable {
    if (stopping_) return;  // the agent stops: StopAll cleans up what is left
    spec.port = ports_.Allocate();
    Status started = spec.port == 0 ? Status::ResourceExhausted("no free port in the node's range")
                                    : Status::Ok();
    Result<images::OverlayMount> mount = Status::Unavailable("not mounted");
    if (started.ok() && hooks_.isolated) started = hooks_.isolated();
    if (started.ok()) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      mount = images::MountOverlay(layers, dir, spec.id_base);
      started = mount.ok() ? Status::Ok() : mount.status();
    }
    // Its persisted directories on the files volume, made (from the image's, the first time)
    // and owned before it binds them.
    if (started.ok() && !persist.empty()) {
      started = files::PrepareDirs(persist, spec.id_base, mount->root);
    }
    if (started.ok()) {
      spec.root = mount->root;
      started = driver_->Start(spec, dir + "/bundle");
    }
    // Nothing of a copy that never ran is kept (the runtime's words are in the error).
    if (!started.ok()) images::RemoveCopyDir(dir).IgnoreError();
    if (!started.ok() && spec.port != 0) ports_.Release(spec.port);
    asio::post(io_, [this, alive, id, started, port = spec.port] {
      if (!*alive) return;
      auto found = copies_.find(id);
      if (found == copies_.end()) return;
      Copy& started_copy = found->second;
      if (!started.ok()) {
        FailedBeforeServing(started_copy, "did not start: " + started.message());
        events_.Add(
            {"copy.start_failed",
             started_copy.site,
             {{"copy", id}, {"error", started.message()}},
             "copy " + id + " of " + started_copy.site + " did not start: " + started.message()});
        images_->Unpin(started_copy.site, started_copy.version);
        copies_.erase(found);
        return;
      }
      started_copy.port = port;
      started_copy.busy = false;
      asio::co_spawn(io_, WatchUntilServing(id), asio::detached);
    });
  });
}

void CopyService::Stop(const std::string& id, EventRecord event) {
  Copy* found = Find(id);
  if (found == nullptr || found->busy) return;
  Copy& copy = *found;
  copy.busy = true;
  copy.state_before_stop = copy.state;
  copy.state = CopyState::kStopping;
  event.fields["copy"] = copy.id;
  event.text += " (" + copy.id + ")";
  events_.Add(std::move(event));
  if (hooks_.publish) hooks_.publish();  // balancers see it draining
  // A copy that served is drained first (make-before-break, DESIGN §8–9); a failed one is gone.
  if (copy.state_before_stop != CopyState::kServing || !hooks_.drain) {
    FinishStop(id);
    return;
  }
  const std::string backend = config_.advertise.host + ":" + std::to_string(copy.port);
  hooks_.drain(backend, [this, alive = alive_, site = copy.site, id](DrainOutcome outcome) {
    if (!*alive) return;
    events_.Add({"copy.drained",
                 site,
                 {{"copy", id},
                  {"confirmed", outcome.confirmed},
                  {"balancers", outcome.balancers},
                  {"unconfirmed", outcome.unconfirmed}},
                 "drained " + id + ": " + outcome.text});
    FinishStop(id);
  });
}

void CopyService::FinishStop(const std::string& id) {
  const Copy* copy = Find(id);
  if (copy == nullptr) return;
  asio::post(pool_, [this, alive = alive_, id, dir = copy->dir, port = copy->port,
                     site = copy->site] {
    const Status stopped = driver_->Stop(id, config_.copies.stop_grace);
    if (Status s = images::RemoveCopyDir(dir); !s.ok()) {
      spdlog::warn("copies: {} left in place: {}", dir, s.ToString());
    }
    if (port != 0) ports_.Release(port);
    asio::post(io_, [this, alive, site, id, stopped] {
      if (!*alive) return;
      auto found = copies_.find(id);
      if (found == copies_.end()) return;
      json fields = {{"copy", id}};
      if (!stopped.ok()) fields["error"] = stopped.message();
      events_.Add({"copy.stopped", site, fields,
                   stopped.ok() ? "stopped " + id : "stopping " + id + ": " + stopped.message()});
      images_->Unpin(found->second.site, found->second.version);
      copies_.erase(found);
      if (hooks_.publish) hooks_.publish();
    });
  });
}

void CopyService::StopAll() {
  // Starts and stops under way finish first (a start from now on does nothing); a start that
  // finished has not told the io thread its mount, so mounts are found by their paths.
  stopping_ = true;
  pool_.join();
  for (auto& [id, copy] : copies_) {
    driver_->Stop(id, config_.copies.stop_grace).IgnoreError();
    images::UnmountOverlay(images::OverlayOf(copy.dir)).IgnoreError();
    images_->Unpin(copy.site, copy.version);
    if (copy.port != 0) ports_.Release(copy.port);
  }
  copies_.clear();
}

}  // namespace starling::agent
