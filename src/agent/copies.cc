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

#include "gossip/codec.h"
#include "src/rules/round_view.h"
#include "src/sites/site.h"

namespace starling::agent {

namespace {

constexpr size_t kMaxEvents = 1000;

// Whether `call` (connect or bind) succeeds for a fresh TCP socket on host:port.
template <typename Call>
bool TrySocket(uint32_t host, uint16_t port, Call call) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(host);
  const bool ok = call(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

// Whether something accepts connections on 127.0.0.1:port (loopback: answers at once).
bool PortAnswers(uint16_t port) { return TrySocket(INADDR_LOOPBACK, port, ::connect); }

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

}  // namespace

CopyService::CopyService(asio::io_context& io, const AgentConfig& config,
                         std::unique_ptr<copies::Driver> driver, store::Replica* log,
                         ImageService* images, Hooks hooks)
    : io_(io),
      config_(config),
      driver_(std::move(driver)),
      log_(log),
      images_(images),
      hooks_(std::move(hooks)) {}

CopyService::~CopyService() {
  *alive_ = false;
  pool_.join();
}

void CopyService::Event(std::string text) {
  spdlog::info("copies: {}", text);
  events_.emplace_back(next_event_++, nlohmann::json{{"at_ms", hooks_.wall_ms()},
                                                     {"node", config_.node_name},
                                                     {"text", std::move(text)}});
  while (events_.size() > kMaxEvents) events_.pop_front();
}

void CopyService::Failed(const std::string& site) {
  auto& [retry_at, failures] = backoff_[site];
  failures = std::min(failures + 1, 5);
  retry_at = hooks_.now() + Seconds(int64_t{1} << failures);  // 2, 4, ... 32 s
}

// Whether nothing listens on `port` here (another agent on this host may use the same range).
bool PortFree(uint16_t port) { return TrySocket(INADDR_ANY, port, ::bind); }

uint16_t CopyService::AllocatePort() {
  for (uint32_t port = config_.copies.first_port; port <= config_.copies.last_port; ++port) {
    if (!ports_in_use_.contains(static_cast<uint16_t>(port)) &&
        PortFree(static_cast<uint16_t>(port))) {
      ports_in_use_.insert(static_cast<uint16_t>(port));
      return static_cast<uint16_t>(port);
    }
  }
  return 0;
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
    const auto dir = std::filesystem::path(config_.data_dir) / "copies" / id;
    images::UnmountOverlay({(dir / "root").string(), (dir / "upper").string()}).IgnoreError();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    Event("stopped " + id + ", left by an earlier run of this node");
  }
}

void CopyService::WatchUntilServing(const std::string& site, const std::string& id, int tries) {
  // A fresh copy's port is polled every 5 ms for its first half second, then every 20 ms (up
  // to 30 s in all), so it serves as soon as it answers rather than at the next round.
  auto it = copies_.find(site);
  if (it == copies_.end() || it->second.id != id) return;
  Copy& copy = it->second;
  if (copy.state != rules::CopyState::kStarting || hooks_.now() - copy.started > Seconds(30)) {
    return;
  }
  if (PortAnswers(copy.port)) {
    copy.state = rules::CopyState::kServing;
    backoff_.erase(copy.site);
    Event(fmt::format("copy {} of {} serves on port {} ({:.0f} ms after its start)", copy.id,
                      copy.site, copy.port, ToMilliseconds(hooks_.now() - copy.started)));
    if (hooks_.publish) hooks_.publish();
    return;
  }
  auto timer =
      std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(tries < 100 ? 5 : 20));
  timer->async_wait([this, alive = alive_, timer, site, id, tries](const asio::error_code& ec) {
    if (ec || !*alive) return;
    WatchUntilServing(site, id, tries + 1);
  });
}

void CopyService::Sample(Copy& copy) {
  auto usage = driver_->Usage(copy.id);
  if (!usage.ok() || usage->threads.empty()) {
    if (copy.state != rules::CopyState::kFailed) {
      copy.state = rules::CopyState::kFailed;
      // The end of its output says why, usually.
      std::ifstream log(copy.dir + "/bundle/log");
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      if (text.size() > 300) text = "..." + text.substr(text.size() - 300);
      Event("copy " + copy.id + " of " + copy.site + " is gone (its process exited" +
            (usage.ok() ? "" : ": " + usage.status().message()) +
            (text.empty() ? "" : "; its output ends: " + text) + ")");
    }
    return;
  }
  copy.load.Sample(copies::CountRunnable(usage->threads));
  copy.cpu_micros = usage->cpu_micros;
  if (copy.state == rules::CopyState::kStarting && PortAnswers(copy.port)) {
    copy.state = rules::CopyState::kServing;
    backoff_.erase(copy.site);
    Event(fmt::format("copy {} of {} serves on port {} ({:.0f} ms after its start)", copy.id,
                      copy.site, copy.port, ToMilliseconds(hooks_.now() - copy.started)));
    if (hooks_.publish) hooks_.publish();
  }
}

void CopyService::Tick(const std::vector<Member>& alive) {
  for (auto& [site, copy] : copies_) {
    if (!copy.busy) Sample(copy);
  }
  // Failed copies are cleaned up; the rules start the site again where they choose.
  std::vector<std::string> failed;
  for (const auto& [site, copy] : copies_) {
    if (!copy.busy && copy.state == rules::CopyState::kFailed) failed.push_back(site);
  }
  for (const std::string& site : failed) {
    Failed(site);
    Stop(site, "its process exited");
  }
  Plan(alive);
}

void CopyService::Plan(const std::vector<Member>& alive) {
  const Instant now = hooks_.now();

  rules::RoundInput input;
  input.self = config_.node_name;
  std::vector<store::Entry> entries;
  if (log_->Scan(keys::kDrain, &entries).ok()) {
    for (const auto& entry : entries) {
      if (!entry.tombstone) input.draining.insert(entry.key.substr(keys::kDrain.size()));
    }
  }
  entries.clear();
  if (!log_->Scan(sites::kKeyPrefix, &entries).ok()) return;
  std::set<std::string> known;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    auto site = sites::Decode(entry.value);
    if (!site.ok()) continue;
    rules::SiteSpec spec{.name = site->name,
                         .min = site->min_copies,
                         .max = site->max_copies,
                         .up = site->up,
                         .down = site->down,
                         .desired = site->min_copies};
    auto desired = log_->Get(keys::Desired(site->name));
    if (desired.ok() && desired->has_value() && !(*desired)->tombstone) {
      auto json = nlohmann::json::parse((*desired)->value, nullptr, false);
      if (json.is_object() && json.contains("count") && json["count"].is_number_unsigned()) {
        spec.desired = json["count"].get<uint32_t>();
      }
    }
    limits_[site->name] = {site->memory_mb, site->pids};
    known.insert(site->name);
    input.sites.push_back(std::move(spec));
  }
  for (const Member& member : alive) {
    rules::MemberReport report{
        .name = member.name, .worker = member.worker, .capacity = member.capacity};
    for (const auto& copy : member.copies) {
      report.copies.push_back({copy.site,
                               copy.draining  ? rules::CopyState::kStopping
                               : copy.serving ? rules::CopyState::kServing
                                              : rules::CopyState::kStarting,
                               copy.load1});
    }
    input.members.push_back(std::move(report));
  }
  input.own.emplace();
  for (const auto& [site, copy] : copies_)
    input.own->push_back({site, copy.state, copy.load.value()});
  const rules::RoundView view = rules::BuildRoundView(input);
  const auto decisions =
      rules::PlanRound(now, view, {{config_.node_name, &autoscalers_}}, config_.copies.autoscale);
  for (const rules::Decision& decision : decisions) {
    const rules::SiteView& site = view.sites[decision.site];
    switch (decision.kind) {
      case rules::Decision::Kind::kScale:
        hooks_.write(keys::Desired(site.name),
                     nlohmann::json{{"count", decision.count},
                                    {"by", config_.node_name},
                                    {"reason", decision.reason},
                                    {"at_ms", hooks_.wall_ms()}}
                         .dump(),
                     false);
        Event(decision.reason);
        break;
      case rules::Decision::Kind::kStart:
        if (!copies_.contains(site.name)) Start(site, decision.reason);
        break;
      case rules::Decision::Kind::kStop:
        if (copies_.contains(site.name) && !copies_.at(site.name).busy) {
          Stop(site.name, decision.reason);
        }
        break;
    }
  }
  // Copies of sites that no longer exist stop.
  std::vector<std::string> orphans;
  for (const auto& [site, copy] : copies_) {
    if (!copy.busy && !known.contains(site)) orphans.push_back(site);
  }
  for (const std::string& site : orphans) Stop(site, "the site was deleted");
}

void CopyService::Start(const rules::SiteView& site, const std::string& reason) {
  if (auto backoff = backoff_.find(site.name);
      backoff != backoff_.end() && backoff->second.first > hooks_.now()) {
    return;  // it failed here lately: wait before trying again
  }
  auto latest = images_->Latest(site.name);
  if (!latest) return;  // no image pushed yet
  const std::string image_dir = images_->ImageDir(site.name, latest->version);
  if (!std::filesystem::exists(image_dir)) return;  // not held here yet: asked again next round
  if (latest->command.empty()) {
    // Said once per version: the rules ask again every round.
    if (unstartable_.insert(latest->version).second) {
      Event("cannot start " + site.name + ": its image " + latest->version.substr(0, 12) +
            " has no start command (starling image push --command ...)");
    }
    return;
  }
  const uint16_t port = AllocatePort();
  if (port == 0) {
    Event("cannot start " + site.name + ": no free port in the node's range");
    return;
  }
  Copy copy;
  copy.site = site.name;
  copy.version = latest->version;
  copy.id = std::string(copies::kIdPrefix) + site.name + "-" + RandomHex(4);
  copy.dir = (std::filesystem::path(config_.data_dir) / "copies" / copy.id).string();
  copy.port = port;
  copy.busy = true;
  copy.started = hooks_.now();
  images_->Pin(copy.site, copy.version);
  Event(reason + " (" + copy.id + ", port " + std::to_string(port) + ")");
  copies::CopySpec spec;
  spec.id = copy.id;
  spec.port = port;
  spec.command = latest->command;
  if (auto limits = limits_.find(site.name); limits != limits_.end()) {
    spec.memory_bytes = uint64_t{limits->second.first} << 20;
    spec.pids = limits->second.second;
  }
  const std::string dir = copy.dir;
  copies_.emplace(site.name, std::move(copy));
  asio::post(pool_, [this, alive = alive_, spec, image_dir, dir, site = site.name]() mutable {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto mount = images::MountOverlay(image_dir, dir);
    Status started = mount.ok() ? Status::Ok() : mount.status();
    if (mount.ok()) {
      spec.root = mount->root;
      started = driver_->Start(spec, dir + "/bundle");
      if (!started.ok()) images::UnmountOverlay(*mount).IgnoreError();
    }
    asio::post(io_, [this, alive, site, started,
                     mount = mount.ok() ? *mount : images::OverlayMount{}] {
      if (!*alive) return;
      auto found = copies_.find(site);
      if (found == copies_.end()) return;
      Copy& started_copy = found->second;
      if (!started.ok()) {
        Failed(site);
        Event("copy " + started_copy.id + " of " + site + " did not start: " + started.message());
        images_->Unpin(started_copy.site, started_copy.version);
        ports_in_use_.erase(started_copy.port);
        copies_.erase(found);
        return;
      }
      started_copy.mount = mount;
      started_copy.busy = false;
      WatchUntilServing(site, started_copy.id, 0);
    });
  });
}

void CopyService::Stop(const std::string& site, const std::string& reason) {
  auto it = copies_.find(site);
  if (it == copies_.end() || it->second.busy) return;
  Copy& copy = it->second;
  copy.busy = true;
  copy.state_before_stop = copy.state;
  copy.state = rules::CopyState::kStopping;
  Event(reason + " (" + copy.id + ")");
  if (hooks_.publish) hooks_.publish();  // balancers see it draining
  // A copy that served is drained first (make-before-break, DESIGN §8–9); a failed one is gone.
  const bool drain = copy.state_before_stop == rules::CopyState::kServing && hooks_.drain;
  const std::string backend = config_.advertise.host + ":" + std::to_string(copy.port);
  asio::post(pool_, [this, alive = alive_, id = copy.id, mount = copy.mount, dir = copy.dir, site,
                     drain, backend] {
    if (drain) {
      const std::string drained = hooks_.drain(backend);
      asio::post(io_, [this, alive, drained, id] {
        if (*alive) Event("drained " + id + ": " + drained);
      });
    }
    const Status stopped = driver_->Stop(id, config_.copies.stop_grace);
    images::UnmountOverlay(mount).IgnoreError();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    asio::post(io_, [this, alive, site, stopped] {
      if (!*alive) return;
      auto found = copies_.find(site);
      if (found == copies_.end()) return;
      if (!stopped.ok()) Event("stopping " + found->second.id + ": " + stopped.message());
      images_->Unpin(found->second.site, found->second.version);
      ports_in_use_.erase(found->second.port);
      copies_.erase(found);
      if (hooks_.publish) hooks_.publish();
    });
  });
}

std::vector<gossip::CopyLoad> CopyService::Report() const {
  std::vector<gossip::CopyLoad> report;
  for (const auto& [site, copy] : copies_) {
    if (copy.state == rules::CopyState::kFailed) continue;
    report.push_back({site, static_cast<float>(copy.load.value()),
                      copy.state == rules::CopyState::kServing, copy.port,
                      copy.state == rules::CopyState::kStopping});
  }
  std::sort(report.begin(), report.end(),
            [](const auto& a, const auto& b) { return a.load1 > b.load1; });
  if (report.size() > gossip::kMaxCopyLoads) report.resize(gossip::kMaxCopyLoads);
  return report;
}

nlohmann::json CopyService::CopiesJson() const {
  nlohmann::json out = nlohmann::json::array();
  const Instant now = hooks_.now();
  for (const auto& [site, copy] : copies_) {
    out.push_back({{"site", site},
                   {"id", copy.id},
                   {"node", config_.node_name},
                   {"port", copy.port},
                   {"state", rules::CopyStateName(copy.state)},
                   {"load1", copy.load.value()},
                   {"cpu_s", static_cast<double>(copy.cpu_micros) / 1e6},
                   {"version", copy.version},
                   {"uptime_s", ToSeconds(now - copy.started)}});
  }
  return out;
}

nlohmann::json CopyService::EventsJson(uint64_t after) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [seq, event] : events_) {
    if (seq <= after) continue;
    nlohmann::json item = event;
    item["seq"] = seq;
    out.push_back(std::move(item));
  }
  return out;
}

void CopyService::StopAll() {
  for (auto& [site, copy] : copies_) {
    driver_->Stop(copy.id, config_.copies.stop_grace).IgnoreError();
    images::UnmountOverlay(copy.mount).IgnoreError();
    images_->Unpin(copy.site, copy.version);
  }
  copies_.clear();
  ports_in_use_.clear();
}

}  // namespace starling::agent
