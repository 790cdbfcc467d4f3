// The agent's wiring: it makes each part, connects them with a few lines each, and runs the io
// thread (DESIGN.md §15). What each part does lives in its own file:
//   transport.h   the sealed stream transport between agents, by frame kind
//   membership.h  the membership core on a UDP socket and the transport
//   log_driver.h  the state log on its own thread, and the one write path
//   images.h      site images: chunks pulled, served, materialized, collected
//   copies.h      the copies this node runs, by the rules
//   balancer.h    a balancer's nginx and keepalived
//   api/          the HTTP API, one route table per resource
#include "src/agent/agent.h"

#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gossip/codec.h"
#include "src/agent/api/context.h"
#include "src/agent/api/server.h"
#include "src/agent/api_identity.h"
#include "src/agent/balancer.h"
#include "src/agent/clock.h"
#include "src/agent/containment.h"
#include "src/agent/copies.h"
#include "src/agent/database.h"
#include "src/agent/db_endpoint.h"
#include "src/agent/drain.h"
#include "src/agent/files_mount.h"
#include "src/agent/identity.h"
#include "src/agent/images.h"
#include "src/agent/isolation.h"
#include "src/agent/keys.h"
#include "src/agent/log_driver.h"
#include "src/agent/member_views.h"
#include "src/agent/membership.h"
#include "src/agent/site_database.h"
#include "src/agent/site_env.h"
#include "src/agent/site_files.h"
#include "src/agent/storage.h"
#include "src/agent/transport.h"

namespace starling::agent {
namespace {

constexpr char kVersion[] = "0.1.0";
constexpr char kLogEventName[] = "starling.log";  // state log news riding gossip
constexpr auto kChunkExchangeTimeout = Seconds(10);

class AgentImpl final : public Agent {
 public:
  AgentImpl(AgentConfig config, net::Keyring keyring, uint32_t incarnation)
      : config_(std::move(config)),
        incarnation_(incarnation),
        sealer_(std::move(keyring), config_.replay_window_ms, gossip::kMaxPushPullBytes + 1),
        transport_(
            io_, &sealer_,
            {.max_frame_bytes = gossip::kMaxPushPullBytes + net::Sealer::kOverheadBytes + 1,
             .max_request_bytes = gossip::kMaxPushPullBytes + net::Sealer::kOverheadBytes + 1,
             .self_addresses = SelfAddresses(config_)}),
        keys_(&sealer_, KeyringPath(config_), ApiCaPath(config_)),
        http_(api::ServerOptions{
            .allowed_hosts = config_.api_hosts,
            .spool_dir = (std::filesystem::path(config_.data_dir) / "uploads").string()}),
        housekeeping_(io_),
        signals_(io_, SIGINT, SIGTERM) {}

  ~AgentImpl() override {
    // The services hold the log and the io_context: they go first, the log's thread with them.
    copies_.reset();
    balancer_.reset();
    database_.reset();
    files_mount_.reset();
    storage_.reset();
    db_endpoint_.reset();
    images_.reset();
    if (log_) log_->Stop();
  }

  Status Start() {
    asio::error_code ec;
    const auto bind_address = asio::ip::make_address(config_.bind.host, ec);
    if (ec) return Status::InvalidArgument("bind host must be an IP address: " + config_.bind.host);
    if (Status s = transport_.Bind({bind_address, config_.bind.port}); !s.ok()) return s;
    std::error_code made;
    std::filesystem::create_directories(config_.data_dir, made);
    auto tls = LoadApiIdentity(config_, sealer_.keyring(), WallMs() / 1000);
    if (!tls.ok()) return tls.status();
    if (Status s = http_.Bind(config_.api, std::move(*tls)); !s.ok()) return s;
    if (Status s = http_.BindLocal(LocalApiSocket(config_)); !s.ok()) return s;

    const std::filesystem::path data = config_.data_dir;
    // What the node keeps is its own: the state log (RocksDB writes its files 0644), chunks and
    // images, uploads, the runtime's state, the firewall's scripts. (The data dir itself is 0711
    // where copies run in user namespaces; nginx's dir stays reachable by its workers.)
    for (const char* private_dir :
         {"state", "chunks", "images", "uploads", "runtime", "firewall", "keepalived"}) {
      std::filesystem::create_directories(data / private_dir, made);
      std::filesystem::permissions(data / private_dir, std::filesystem::perms::owner_all, made);
      if (made) {
        return Status::IoError("cannot make " + (data / private_dir).string() +
                               " the agent's alone: " + made.message());
      }
    }
    log_ = std::make_unique<LogDriver>(
        io_, time_, config_.node_name, (data / "state").string(), &transport_,
        LogDriver::Hooks{
            .address_of = [this](const std::string& node) { return membership_->AddressOf(node); },
            .broadcast =
                [this](std::string news) {
                  membership_->SendUserEvent(kLogEventName, std::move(news)).IgnoreError();
                },
            .changed = [this] { OnLogChanged(); }});
    if (Status s = log_->Open(); !s.ok()) return s;

    auto chunks = images::ChunkStore::Open((data / "chunks").string());
    if (!chunks.ok()) return chunks.status();
    images_ = std::make_unique<ImageService>(
        io_, time_, config_, std::move(chunks.value()), log_.get(),
        ImageService::Hooks{.exchange = [this](std::string peer, std::string payload) {
          return ExchangeChunks(std::move(peer), std::move(payload));
        }});
    // Copies need a container runtime; without one the node still gossips, replicates and
    // serves images, and says why it runs no copies.
    auto driver = copies::PickDriver(config_.copies.driver, (data / "runtime").string());
    // Copies run contained (src/agent/containment.h), or not at all.
    if (driver.ok() && config_.role != gossip::Role::kBalancer) {
      auto isolation = StartIsolation(config_, (*driver)->name());
      const Status contained =
          isolation.ok() ? PrepareUserNamespaces(config_, (*driver)->name()) : isolation.status();
      if (isolation.ok()) isolation_ = std::move(isolation.value());
      if (!contained.ok()) driver = contained;
    }
    if (driver.ok() && config_.role != gossip::Role::kBalancer) {
      spdlog::info(
          "copies run with the {} driver{}", (*driver)->name(),
          (*driver)->name() == "process" ? " (no isolation, no limits: development only)" : "");
      copies_ = std::make_unique<CopyService>(
          io_, config_, std::move(driver.value()), log_.get(), images_.get(),
          CopyService::Hooks{
              .now = [this] { return time_.Now(); },
              .wall_ms = [] { return WallMs(); },
              .publish = [this] { PublishLoadIfChanged(/*force=*/true); },
              .standing =
                  [this] {
                    const WorkerCounts counts = CountWorkers(membership_->core());
                    // Its own pull of the state log answered, and a peer's whole membership
                    // merged (a seed restarted hears of the others one ping at a time).
                    const bool heard =
                        log_->exchanged() && membership_->core().stats().push_pulls > 0;
                    return rules::Standing{.single_node = config_.copies.single_node,
                                           .exchanged = heard,
                                           .live_workers = counts.live,
                                           .known_workers = counts.known,
                                           .reports_missing = counts.reports_missing};
                  },
              .drain =
                  [this](std::string backend, std::function<void(DrainOutcome)> done) {
                    Drain(std::move(backend), std::move(done));
                  },
              .isolated = isolation_
                              ? std::function<Status()>([this] { return isolation_->Ready(); })
                              : nullptr,
              .site_env =
                  [this](const std::string& site) {
                    return SiteEnv(config_, *log_, sealer_.keyring(), site);
                  },
              .site_files =
                  [this](const std::string& site, const images::ImageRecord& version) {
                    return SiteFiles(*log_, *images_, files_mount_.get(), site, version);
                  }});
      copies_->Recover();
    } else if (!driver.ok()) {
      spdlog::warn("no copies will run on this node: {}", driver.status().ToString());
    }
    // Copies reach the database through the node's endpoint (started when a db node appears).
    if (copies_) db_endpoint_ = std::make_unique<DbEndpoint>(config_);
    if (config_.database) {
      database_ = std::make_unique<DatabaseService>(config_, log_.get(), &sealer_, [this] {
        asio::post(io_, [this] {
          if (!leaving_) PublishLoadIfChanged();
        });
      });
      if (Status s = database_->Start(); !s.ok()) {
        spdlog::error("this node runs no database: {}", s.ToString());
        database_.reset();
      }
    }
    // Site files (issue 19): workers mount the volume, storage nodes serve its bricks.
    if (copies_ && config_.files.mount) {
      files_mount_ = std::make_unique<FilesMount>(config_);
      if (Status s = files_mount_->Start(); !s.ok()) {
        spdlog::warn("this node mounts no files volume: {}", s.ToString());
        files_mount_.reset();
      }
    }
    if (config_.storage) {
      storage_ = std::make_unique<StorageService>(config_, log_.get(), [this] {
        asio::post(io_, [this] {
          if (!leaving_) PublishLoadIfChanged();
        });
      });
      if (Status s = storage_->Start(); !s.ok()) {
        spdlog::error("this node serves no brick of the files volume: {}", s.ToString());
        storage_.reset();
      }
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
    membership_ = std::make_unique<Membership>(
        io_, time_, config_, &sealer_, &transport_,
        gossip::NodeMeta{config_.role, slots, AdvertisedApi(config_), kVersion, config_.database,
                         config_.storage},
        incarnation_,
        Membership::Hooks{
            .members_changed = [this] { OnMembersChanged(); },
            .user_event =
                [this](const std::string& name, std::string payload) {
                  if (name == kLogEventName) log_->OnBroadcast(std::move(payload));
                },
            .incarnation_raised = [this](uint32_t incarnation) { PersistIncarnation(incarnation); },
            .stepped =
                [this] {
                  ScheduleBalancerRefresh();
                  ScheduleCopiesReplan();
                  ScheduleDbRefresh();
                }});
    if (Status s = membership_->Bind({bind_address, config_.bind.port}); !s.ok()) return s;
    // The services' view of the members starts with this node (a lone node hears of no change).
    OnMembersChanged();

    transport_.Handle(frame::kLog,
                      [this](Frame request) { return log_->Serve(std::move(request)); });
    transport_.Handle(frame::kChunks,
                      [this](Frame request) { return ServeChunks(std::move(request)); });
    if (balancer_) {
      transport_.Handle(frame::kDrained, [this](Frame request) {
        return balancer_->ServeDrained(std::string(request.payload()));
      });
    }

    api_ = std::make_unique<api::Context>(api::Context{.config = config_,
                                                       .io = io_,
                                                       .membership = membership_.get(),
                                                       .log = log_.get(),
                                                       .images = images_.get(),
                                                       .copies = copies_.get(),
                                                       .balancer = balancer_.get(),
                                                       .keys = &keys_,
                                                       .sealer = &sealer_,
                                                       .transport = &transport_,
                                                       .leave = [this] { BeginLeave(); },
                                                       .isolation = isolation_.get(),
                                                       .database = database_.get(),
                                                       .db_endpoint = db_endpoint_.get(),
                                                       .storage = storage_.get(),
                                                       .files_mount = files_mount_.get()});
    for (auto routes : {api::SiteRoutes, api::ReleaseRoutes, api::ImageRoutes, api::StackRoutes,
                        api::CopyRoutes, api::ClusterRoutes, api::BalancerRoutes, api::KeyRoutes,
                        api::MetricRoutes, api::TokenRoutes, api::DbRoutes, api::FileRoutes}) {
      http_.Add(routes(*api_));
    }
    http_.SetAuthenticator(api::MakeAuthenticator(*api_));
    if (Status s = http_.Start(); !s.ok()) return s;
    spdlog::info(
        "agent {} starting: gossip {} (advertise {}), api {}, profile {}, "
        "incarnation {}, state log {} at {} entries",
        config_.node_name, config_.bind.ToString(), config_.advertise.ToString(),
        AdvertisedApi(config_), config_.profile, incarnation_, log_->origin(),
        log_->own_entries_at_open());
    return Status::Ok();
  }

  int Run() override {
    transport_.Start();
    membership_->Start(config_.join);
    signals_.async_wait([this](const asio::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("signal {}: leaving the cluster", signal);
      BeginLeave();
    });
    PublishLoadIfChanged();
    Housekeeping();
    io_.run();
    http_.Stop();
    log_->Stop();
    disk_.join();
    spdlog::info("agent {} stopped", config_.node_name);
    return 0;
  }

 private:
  // One chunk request to a peer: the reply, or why not.
  asio::awaitable<Result<Frame>> ExchangeChunks(std::string peer, std::string payload) {
    auto address = membership_->AddressOf(peer);
    if (!address) co_return Status::Unavailable(peer + " is not a live member");
    auto exchange =
        transport_.Request(*address, frame::kChunks, std::move(payload), kChunkExchangeTimeout);
    co_return co_await std::move(exchange);
  }

  asio::awaitable<Result<std::string>> ServeChunks(Frame request) {
    auto serve = images_->Serve(std::string(request.payload()));  // named: see OffThread
    std::string answer = co_await std::move(serve);
    if (answer.empty()) co_return Status::InvalidArgument("undecodable chunk request");
    co_return answer;
  }

  // Waits (io thread, timer-driven) for every live balancer to drain `backend`, then `done`.
  void Drain(std::string backend, std::function<void(DrainOutcome)> done) {
    auto balancers = [this] { return LiveBalancers(membership_->core()); };
    asio::co_spawn(io_, DrainBackend(io_, &transport_, balancers, std::move(backend)),
                   [done = std::move(done)](std::exception_ptr error, DrainOutcome outcome) {
                     if (error) outcome.text = "the drain failed";
                     done(std::move(outcome));
                   });
  }

  void OnMembersChanged() {
    std::vector<std::string> live = membership_->LivePeers();
    // A node that has merged no peer's whole state yet (a seed restarted with no one to join:
    // it hears of the others one ping at a time) asks the first peer it hears of for it, so its
    // view — and the copy rules' standing — is whole at once rather than at a push-pull round.
    if (!asked_whole_state_ && !live.empty() && membership_->core().stats().push_pulls == 0) {
      if (auto address = membership_->AddressOf(live.front())) {
        asked_whole_state_ = true;
        membership_->Join({address->ToString()});
      }
    }
    log_->SetLivePeers(live);
    live.push_back(config_.node_name);
    images_->SetMembers(std::move(live), RunningCopies(membership_->core()));
  }

  // The state log changed: images learn new versions, the copy rules act on what was written.
  void OnLogChanged() {
    images_->Refresh();
    if (copies_ && !leaving_) copies_->Plan(CopyMembers(membership_->core()));
  }

  // Every membership step may carry load reports the balancer acts on: refreshed once per
  // burst of steps.
  void ScheduleBalancerRefresh() {
    if (!balancer_ || balancer_refresh_posted_) return;
    balancer_refresh_posted_ = true;
    asio::post(io_, [this] {
      balancer_refresh_posted_ = false;
      RefreshBalancer();
    });
  }

  // A copy elsewhere started, served, drained or went: the rules run now rather than at the
  // next second's round (a rollout's next step waits on exactly this). Once per burst of steps,
  // and only when the copies' states changed (not their loads).
  void ScheduleCopiesReplan() {
    if (!copies_ || replan_posted_) return;
    replan_posted_ = true;
    asio::post(io_, [this] {
      replan_posted_ = false;
      if (leaving_) return;
      const uint64_t digest = CopyStatesDigest(membership_->core());
      if (digest == copy_states_digest_) return;
      copy_states_digest_ = digest;
      copies_->Plan(CopyMembers(membership_->core()));
    });
  }

  // A db node's report changed (its member left Synced, or one joined): the endpoints repoint
  // now rather than at the next second. Once per burst of steps.
  void ScheduleDbRefresh() {
    if ((!database_ && !db_endpoint_) || db_refresh_posted_) return;
    db_refresh_posted_ = true;
    asio::post(io_, [this] {
      db_refresh_posted_ = false;
      if (!leaving_) RefreshDb();
    });
  }

  void RefreshDb() {
    if (!database_ && !db_endpoint_) return;
    std::vector<rules::DbNodeView> db_nodes = DbNodes(membership_->core());
    if (db_endpoint_) db_endpoint_->Update(db_nodes);
    const bool heard = log_->exchanged() && membership_->core().stats().push_pulls > 0;
    if (database_) database_->Update(std::move(db_nodes), config_.copies.single_node || heard);
  }

  // The storage nodes' reports to the volume rule, and where workers mount it from.
  void RefreshFiles() {
    if (!storage_ && !files_mount_) return;
    std::vector<rules::StorageNodeView> nodes = StorageNodes(membership_->core());
    if (files_mount_) files_mount_->Update(rules::FilesVolfileServers(nodes));
    const bool heard = log_->exchanged() && membership_->core().stats().push_pulls > 0;
    if (storage_) {
      storage_->Update(std::move(nodes), config_.copies.single_node || heard,
                       MemberHosts(membership_->core()));
    }
  }

  void RefreshBalancer() {
    if (!balancer_ || leaving_) return;
    balancer_->Update(BalancedWorkers(membership_->core()),
                      BalancerPeers(membership_->core(), config_.node_name));
  }

  // The incarnation only grows; written in order, off the io thread (it fsyncs).
  void PersistIncarnation(uint32_t incarnation) {
    asio::post(disk_, [config = config_, incarnation] {
      if (Status s = WriteIdentity(config, incarnation); !s.ok()) {
        spdlog::error("cannot persist incarnation {}: {}", incarnation, s.ToString());
      }
    });
  }

  // `force`: the copies changed (one serves, drains or is gone): publish now, not at the tick.
  void PublishLoadIfChanged(bool force = false) {
    double load1 = 0;
    std::ifstream loadavg("/proc/loadavg");  // procfs: no disk behind it
    loadavg >> load1;
    const Instant now = time_.Now();
    // Copies change the report every second (their load averages): it goes out each second
    // while the node runs any; otherwise when the node's load moves or every 30 s.
    const bool has_copies = copies_ && !copies_->Report().empty();
    // A database's state change matters to the other db nodes' rules and the endpoints now.
    if (database_) {
      if (gossip::DbReport db = database_->Report(); db != last_db_report_) {
        last_db_report_ = std::move(db);
        force = true;
      }
    }
    if (storage_) {
      if (gossip::FilesReport files = storage_->Report(); files != last_files_report_) {
        last_files_report_ = files;
        force = true;
      }
    }
    if (!force && !has_copies && std::abs(load1 - last_load_) < 0.05 &&
        now - last_load_published_ < Seconds(30) && last_load_published_ != Instant{}) {
      return;
    }
    last_load_ = load1;
    last_load_published_ = now;
    gossip::LoadReport report;
    if (copies_) report.copies = copies_->Report();
    if (database_) report.database = last_db_report_;  // read just above
    if (storage_) report.files = last_files_report_;
    report.load1 = load1;
    report.cpu_count = std::max(1u, std::thread::hardware_concurrency());
    report.free_slots = membership_->core().FindMember(config_.node_name)->meta().capacity;
    // A copy that starts serving or draining matters to the balancers now: they get the report
    // at once instead of at the next gossip round (≈ 100 ms on the default profile).
    std::vector<std::string> urgent;
    if (force) {
      for (const auto& [name, address] : LiveBalancers(membership_->core(), config_.node_name)) {
        urgent.push_back(name);
      }
    }
    membership_->PublishLoad(std::move(report), urgent);
  }

  void Housekeeping() {
    housekeeping_.expires_after(std::chrono::milliseconds(leaving_ ? 20 : 1000));
    housekeeping_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      if (leaving_) {
        if (membership_->LeaveDone()) {
          Shutdown();
          return;
        }
      } else {
        if (isolation_) isolation_->Update(MemberHosts(membership_->core()), time_.Now());
        if (copies_) copies_->Tick(CopyMembers(membership_->core()));
        RefreshBalancer();
        RefreshDb();
        RefreshFiles();
        PublishLoadIfChanged();
        images_->Refresh();
        transport_.Sweep();
      }
      Housekeeping();
    });
  }

  void BeginLeave() {
    if (leaving_) return;
    leaving_ = true;
    transport_.Refuse();  // a leaving node serves no more exchanges
    membership_->Leave();
    Housekeeping();
  }

  void Shutdown() {
    spdlog::info("left the cluster");
    if (copies_) copies_->StopAll();
    if (isolation_) isolation_->Stop();
    if (balancer_) balancer_->Stop();
    if (db_endpoint_) db_endpoint_->Stop();
    if (database_) database_->Stop();  // mariadbd leaves its cluster cleanly (blocking, seconds)
    if (files_mount_) files_mount_->Stop();  // after the copies that bound its directories
    if (storage_) storage_->Stop();
    membership_->Close();
    transport_.Close();
    housekeeping_.cancel();
    signals_.cancel();
    http_.Stop();
    io_.stop();
  }

  AgentConfig config_;
  uint32_t incarnation_;
  CoreTime time_;
  asio::io_context io_{1};
  net::Sealer sealer_;  // thread-safe
  StreamTransport transport_;
  Keys keys_;
  std::unique_ptr<LogDriver> log_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<Isolation> isolation_;  // the copies' firewall; null: none (see StartIsolation)
  std::unique_ptr<CopyService> copies_;   // null when no container runtime works here
  std::unique_ptr<BalancerService> balancer_;  // null unless a balancer with a working nginx
  std::unique_ptr<DatabaseService> database_;  // null unless a db node with a working mariadbd
  std::unique_ptr<DbEndpoint> db_endpoint_;    // null unless the node runs copies
  gossip::DbReport last_db_report_;            // what the last published load report said
  std::unique_ptr<FilesMount> files_mount_;    // null unless a worker that mounts the volume
  std::unique_ptr<StorageService> storage_;    // null unless a storage node with glusterd
  gossip::FilesReport last_files_report_;      // what the last published load report said
  bool db_refresh_posted_ = false;
  std::unique_ptr<Membership> membership_;
  api::Server http_;
  std::unique_ptr<api::Context> api_;
  asio::thread_pool disk_{1};  // small fsync'd writes (the identity), in order
  asio::steady_timer housekeeping_;
  asio::signal_set signals_;
  bool leaving_ = false;
  bool replan_posted_ = false;
  bool asked_whole_state_ = false;
  uint64_t copy_states_digest_ = 0;
  bool balancer_refresh_posted_ = false;
  double last_load_ = -1;
  Instant last_load_published_{};
};

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
  if (Status s = WriteIdentity(config, incarnation); !s.ok()) return s;
  auto keyring = LoadKeyring(config);
  if (!keyring.ok()) return keyring.status();
  auto agent = std::make_unique<AgentImpl>(std::move(config), std::move(*keyring), incarnation);
  if (Status s = agent->Start(); !s.ok()) return s;
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace starling::agent
