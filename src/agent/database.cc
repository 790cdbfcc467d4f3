#include "src/agent/database.h"

#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "base/file.h"
#include "src/agent/clock.h"
#include "src/agent/site_database.h"
#include "src/auth/sealed_secret.h"
#include "src/db/wsrep_status.h"
#include "src/process/run.h"
#include "src/state/keys.h"

namespace starling::agent {
namespace fs = std::filesystem;

namespace {

constexpr char kSstSecret[] = "sst";
constexpr char kSstUser[] = "starling_sst";
constexpr int64_t kRestartDelayMs = 2000;
// How long a node stands in the cluster before it may form a Primary component: the other db
// nodes' latest reports reach a node that just joined through push-pulls and broadcasts, and
// the first it holds may be older (relayed) ones — seen: a node joining a second after its peers
// bootstrapped took their stale "stopped" reports for the truth and formed a second component.
constexpr int64_t kBootstrapSettleMs = 5000;

}  // namespace

DatabaseService::DatabaseService(const AgentConfig& config, LogDriver* log,
                                 const net::Sealer* sealer, std::function<void()> changed)
    : config_(config), log_(log), sealer_(sealer), changed_(std::move(changed)) {
  base_ = (fs::absolute(config_.data_dir) / "mariadb").string();
  data_dir_ = base_ + "/data";
  run_dir_ = base_ + "/run";
  option_file_ = base_ + "/my.cnf";
  report_.galera_address = HostPort{config_.advertise.host, config_.db.galera_port}.ToString();
  report_.client_address = HostPort{config_.advertise.host, config_.db.port}.ToString();
}

DatabaseService::~DatabaseService() { Stop(); }

Status DatabaseService::Start() {
  const passwd* user = ::getpwnam(config_.db.user.c_str());
  if (user == nullptr) {
    return Status::FailedPrecondition("no system user '" + config_.db.user +
                                      "' for the database (is mariadb-server installed?)");
  }
  uid_ = user->pw_uid;
  gid_ = user->pw_gid;
  if (!process::InPath(config_.db.mariadbd)) {
    return Status::FailedPrecondition("no " + config_.db.mariadbd +
                                      " (apt-get install mariadb-server galera-4 mariadb-backup)");
  }
  if (!fs::exists(db::GaleraOptions{}.provider)) {
    return Status::FailedPrecondition("no Galera provider at " + db::GaleraOptions{}.provider +
                                      " (apt-get install galera-4)");
  }
  std::error_code ec;
  fs::create_directories(data_dir_, ec);
  fs::create_directories(run_dir_ + "/tmp", ec);
  // The base passable (mariadbd runs as its own user), its contents the database's alone.
  fs::permissions(base_, fs::perms(0711), ec);
  for (const std::string& dir : {data_dir_, run_dir_, run_dir_ + "/tmp"}) {
    if (::chown(dir.c_str(), uid_, gid_) != 0 || ::chmod(dir.c_str(), 0700) != 0) {
      return Status::IoError("cannot give " + dir + " to " + config_.db.user);
    }
  }
  // What an earlier run of the agent left running.
  if (process::EndLeftover(base_ + "/mariadbd.pid", SIGTERM, Seconds(60), /*session=*/true)) {
    spdlog::warn("db: ended the mariadbd an earlier run left");
  }
  if (!fs::exists(data_dir_ + "/mysql")) {
    auto installed = process::RunProgram(
        {"mariadb-install-db", "--no-defaults", "--datadir=" + data_dir_,
         "--user=" + config_.db.user, "--auth-root-authentication-method=socket", "--skip-test-db",
         // Its own temporary dir: installs beside it would collide in /tmp.
         "--tmpdir=" + run_dir_ + "/tmp"},
        {.timeout = Seconds(120)});
    if (!installed.ok()) return installed.status();
    if (installed->exit_code != 0) {
      return Status::IoError("mariadb-install-db failed: " + installed->output);
    }
    spdlog::info("db: installed the system tables in {}", data_dir_);
  }
  const db::Position position = ReadPosition();
  {
    std::lock_guard lock(mutex_);
    report_.state = static_cast<uint8_t>(rules::DbState::kStopped);
    report_.uuid = position.uuid;
    report_.seqno = position.seqno;
  }
  spdlog::info("db: last committed {}:{}", position.uuid.empty() ? "(none)" : position.uuid,
               position.seqno);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void DatabaseService::Update(std::vector<rules::DbNodeView> nodes, bool standing) {
  std::lock_guard lock(mutex_);
  nodes_ = std::move(nodes);
  standing_ = standing;
}

gossip::DbReport DatabaseService::Report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

nlohmann::json DatabaseService::StateJson() const {
  std::lock_guard lock(mutex_);
  nlohmann::json state = status_;
  state["state"] = rules::DbStateName(static_cast<rules::DbState>(report_.state));
  state["pid"] = mariadbd_ ? mariadbd_->pid() : -1;
  if (!why_.empty()) state["why"] = why_;
  return state;
}

void DatabaseService::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  connection_.reset();
  if (mariadbd_ && mariadbd_->pid() > 0) {
    spdlog::info("db: stopping mariadbd (pid {})", mariadbd_->pid());
    mariadbd_->Stop(SIGTERM, Seconds(60));
  }
}

void DatabaseService::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    Tick();
    if (const gossip::DbReport now = Report(); now != notified_) {
      notified_ = now;
      if (changed_) changed_();
    }
    lock.lock();
    // A quarter second: a crashed server is seen (and the endpoints told) that much later.
    wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; });
  }
}

void DatabaseService::Tick() {
  if (!registered_) {
    // Registered once: the bootstrap rule waits for every registered node from now on.
    auto entry = log_->Get(keys::DbNode(config_.node_name));
    if (entry.ok() && entry->has_value() && !(*entry)->tombstone) {
      registered_ = true;
    } else if (Status s = WriteAndWait(keys::DbNode(config_.node_name),
                                       nlohmann::json{{"at_ms", WallMs()}}.dump());
               s.ok()) {
      registered_ = true;
    } else {
      SetWhy("cannot register as a db node: " + s.message());
      return;
    }
  }
  if (mariadbd_ && mariadbd_->pid() > 0) {
    Observe();
  } else {
    Decide();
  }
}

void DatabaseService::Observe() {
  if (mariadbd_->CheckExited()) {
    connection_.reset();
    users_ready_ = false;
    spdlog::error("db: mariadbd exited; its log ends:\n{}",
                  ReadTail(run_dir_ + "/mariadb.err", 1500));
    const db::Position position = ReadPosition();
    std::lock_guard lock(mutex_);
    report_.state = static_cast<uint8_t>(rules::DbState::kStopped);
    report_.uuid = position.uuid;
    report_.seqno = position.seqno;
    report_.cluster_size = 0;
    why_ = "mariadbd exited (see " + run_dir_ + "/mariadb.err)";
    restart_after_ms_ = WallMs() + kRestartDelayMs;
    return;
  }
  if (!connection_) {
    auto opened = db::Connection::Open({.socket = run_dir_ + "/mariadb.sock", .timeout_s = 2});
    if (!opened.ok()) {
      // Starting, or receiving a state transfer: not accounted for by the bootstrap rule.
      std::lock_guard lock(mutex_);
      report_.state = static_cast<uint8_t>(rules::DbState::kUnknown);
      report_.seqno = -1;
      return;
    }
    connection_ = std::move(*opened);
  }
  auto variables = connection_->QueryPairs(db::kWsrepStatusQuery);
  if (!variables.ok()) {
    connection_.reset();
    return;
  }
  const db::WsrepStatus status = db::ReadWsrepStatus(*variables);
  rules::DbState state = status.state;
  if (state == rules::DbState::kSynced && !users_ready_) {
    // The cluster's own users first: a joiner's state transfer needs the SST user on its donor.
    if (Status s = EnsureUsers(); !s.ok()) {
      SetWhy("cannot make the database's users: " + s.message());
      state = rules::DbState::kJoining;
    } else {
      users_ready_ = true;
    }
  }
  if (state == rules::DbState::kSynced && IsWriter() && WallMs() - sites_checked_ms_ >= 2000) {
    // The writer makes the sites' schemas and users (Galera replicates them to the others).
    sites_checked_ms_ = WallMs();
    const net::Keyring keyring = sealer_->keyring();
    if (Status s =
            EnsureSiteDatabases(*connection_, *log_, keyring, config_.node_name, &sites_made_);
        !s.ok()) {
      SetWhy(s.message());
    }
    // After a key rotation: the secrets under the new primary key, so the old one can go.
    std::vector<store::Entry> secrets;
    if (log_->Scan(keys::kDbSecret, &secrets).ok() &&
        log_->Scan(keys::kSiteSecret, &secrets).ok()) {
      if (std::vector<Put> resealed = ResealedSecrets(secrets, keyring); !resealed.empty()) {
        spdlog::info("db: resealing {} secret(s) under the primary key", resealed.size());
        for (auto& put : resealed) {
          if (Status s = WriteAndWait(std::move(put.key), std::move(put.value)); !s.ok()) {
            SetWhy("cannot reseal the database secrets: " + s.message());
            break;
          }
        }
      }
    }
  }
  std::lock_guard lock(mutex_);
  report_.state = static_cast<uint8_t>(state);
  report_.uuid = status.uuid;
  report_.seqno = rules::InPrimary(state) ? -1 : status.last_committed;
  report_.cluster_size = status.cluster_size;
  status_ = {{"ready", status.ready},
             {"cluster_status", status.cluster_status},
             {"cluster_size", status.cluster_size},
             {"uuid", status.uuid},
             {"last_committed", status.last_committed},
             {"flow_control_paused", status.flow_control_paused}};
  if (rules::InPrimary(state)) why_.clear();
}

std::vector<rules::DbNodeView> DatabaseService::ViewWithSelf(
    std::optional<rules::DbState> state) const {
  std::lock_guard lock(mutex_);
  std::vector<rules::DbNodeView> nodes = nodes_;
  std::erase_if(nodes, [&](const rules::DbNodeView& n) { return n.name == config_.node_name; });
  nodes.push_back({config_.node_name, true,
                   state.value_or(static_cast<rules::DbState>(report_.state)), report_.uuid,
                   report_.seqno, report_.galera_address, report_.client_address});
  return nodes;
}

bool DatabaseService::IsWriter() const {
  // This node's own state is what the server just said (Synced: the caller checked).
  return rules::DbWriter(ViewWithSelf(rules::DbState::kSynced)) == config_.node_name;
}

void DatabaseService::Decide() {
  if (WallMs() < restart_after_ms_) return;
  bool standing = false;
  {
    std::lock_guard lock(mutex_);
    standing = standing_;
  }
  if (!standing) {
    standing_since_ms_ = 0;
    SetWhy("waiting to hear the cluster before starting the database");
    return;
  }
  if (standing_since_ms_ == 0) standing_since_ms_ = WallMs();
  const rules::DbDecision decision =
      rules::DecideDbStart(config_.node_name, Registered(), ViewWithSelf(std::nullopt));
  if (decision.action == rules::DbAction::kWait) {
    SetWhy(decision.why);
    return;
  }
  const bool bootstrap = decision.action == rules::DbAction::kBootstrap;
  if (bootstrap && WallMs() - standing_since_ms_ < kBootstrapSettleMs) {
    SetWhy(
        "no Primary component seen yet; the other db nodes' latest reports may still be on "
        "their way: forming one in a few seconds unless one appears");
    return;
  }
  if (Status s = EnsureSstSecret(/*create=*/bootstrap); !s.ok()) {
    SetWhy(s.message());
    return;
  }
  spdlog::info("db: {}", decision.why);
  if (Status s = Launch(decision); !s.ok()) {
    spdlog::error("db: cannot start mariadbd: {}", s.ToString());
    SetWhy("cannot start mariadbd: " + s.message());
    restart_after_ms_ = WallMs() + kRestartDelayMs;
  }
}

Status DatabaseService::Launch(const rules::DbDecision& decision) {
  db::GaleraOptions options = Options();
  options.bootstrap = decision.action == rules::DbAction::kBootstrap;
  options.peers = decision.peers;
  if (Status s = db::Validate(options); !s.ok()) return s;
  if (Status s = WriteFileAtomically(option_file_, db::RenderOptionFile(options), 0600); !s.ok()) {
    return s;
  }
  // The state transfer scripts run as the database's user and read the option file.
  if (::chown(option_file_.c_str(), uid_, gid_) != 0) {
    return Status::IoError("cannot give " + option_file_ + " to " + config_.db.user);
  }
  const std::string grastate = data_dir_ + "/grastate.dat";
  if (options.bootstrap && fs::exists(grastate)) {
    // The rule chose this node: Galera forms a component from it only when told it is safe.
    auto text = ReadFile(grastate);
    if (!text.ok()) return text.status();
    if (db::ParseGraState(*text).ok()) {
      if (Status s = WriteFileAtomically(grastate, db::MarkSafeToBootstrap(*text), 0660); !s.ok()) {
        return s;
      }
      if (::chown(grastate.c_str(), uid_, gid_) != 0) return Status::IoError("chown " + grastate);
    }
  }
  process::SpawnOptions spawn;
  spawn.argv = {config_.db.mariadbd, "--defaults-file=" + option_file_};
  if (options.bootstrap) spawn.argv.push_back("--wsrep-new-cluster");
  if (!recovered_.uuid.empty() && recovered_.seqno >= 0) {
    // After a crash: the position InnoDB holds (without it the member would start a new
    // history, and every other member would need a full state transfer).
    spawn.argv.push_back("--wsrep-start-position=" + recovered_.uuid + ":" +
                         std::to_string(recovered_.seqno));
  }
  spawn.output_file = run_dir_ + "/mariadbd.out";
  spawn.new_session = true;
  spawn.pid_file = base_ + "/mariadbd.pid";
  auto child = std::make_unique<process::Child>(std::move(spawn));
  if (Status s = child->Start(); !s.ok()) return s;
  std::lock_guard lock(mutex_);
  mariadbd_ = std::move(child);
  report_.state = static_cast<uint8_t>(rules::DbState::kUnknown);
  report_.seqno = -1;
  why_ = options.bootstrap ? "forming the Primary component" : "joining the Primary component";
  return Status::Ok();
}

Status DatabaseService::EnsureSstSecret(bool create) {
  if (!sst_password_.empty()) return Status::Ok();
  const std::string key = keys::DbSecret(kSstSecret);
  auto entry = log_->Get(key);
  if (!entry.ok()) return entry.status();
  const net::Keyring keyring = sealer_->keyring();
  if (entry->has_value() && !(*entry)->tombstone) {
    auto opened = auth::OpenSecret(keyring, key, (*entry)->value);
    if (!opened.ok())
      return Status(opened.status().code(), "the SST secret: " + opened.status().message());
    sst_password_ = *opened;
    return Status::Ok();
  }
  if (!create) {
    return Status::Unavailable("waiting for the SST secret to reach this node's state log");
  }
  const std::string password = auth::NewPassword();
  if (Status s = WriteAndWait(key, auth::SealSecret(keyring, key, password)); !s.ok()) return s;
  sst_password_ = password;
  return Status::Ok();
}

Status DatabaseService::EnsureUsers() {
  if (Status s = EnsureSstSecret(/*create=*/false); !s.ok()) return s;
  auto rows = connection_->Query(
      "SELECT 1 FROM mysql.global_priv WHERE User = 'starling_sst' AND Host = 'localhost'");
  if (!rows.ok()) return rows.status();
  if (!rows->empty()) return Status::Ok();
  const std::string user = std::string("'") + kSstUser + "'@'localhost'";
  if (Status s = connection_->Execute("CREATE USER IF NOT EXISTS " + user + " IDENTIFIED BY " +
                                      connection_->Quote(sst_password_));
      !s.ok()) {
    return s;
  }
  return connection_->Execute("GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO " +
                              user);
}

db::Position DatabaseService::ReadPosition() {
  recovered_ = {};
  const std::string grastate = data_dir_ + "/grastate.dat";
  auto text = ReadFile(grastate);
  if (!text.ok()) return {};  // no history yet
  auto state = db::ParseGraState(*text);
  if (!state.ok()) {
    spdlog::warn("db: {}", state.status().ToString());
    return {};
  }
  if (state->position.uuid.empty() || state->position.seqno >= 0) return state->position;
  // A crash: the position is in InnoDB's redo log; --wsrep-recover reads it out and exits.
  db::GaleraOptions options = Options();
  options.bootstrap = true;  // no peers needed to recover
  if (options.sst_password.empty()) options.sst_password = "recovering";
  if (!db::Validate(options).ok() ||
      !WriteFileAtomically(option_file_, db::RenderOptionFile(options), 0600).ok() ||
      ::chown(option_file_.c_str(), uid_, gid_) != 0) {
    return state->position;
  }
  const std::string log = run_dir_ + "/recover.log";
  ::unlink(log.c_str());
  auto recovered = process::RunProgram({config_.db.mariadbd, "--defaults-file=" + option_file_,
                                        "--wsrep-recover", "--log-error=" + log},
                                       {.timeout = Seconds(120)});
  auto text_log = ReadFile(log);
  if (recovered.ok() && text_log.ok()) {
    if (auto position = db::RecoveredPosition(*text_log)) {
      spdlog::info("db: recovered the position {}:{} after a crash", position->uuid,
                   position->seqno);
      recovered_ = *position;
      return *position;
    }
  }
  spdlog::warn("db: could not recover the last committed position: {}",
               recovered.ok() ? recovered->output : recovered.status().ToString());
  return state->position;
}

Status DatabaseService::WriteAndWait(std::string key, std::string value) {
  return log_
      ->WriteAndWait({{std::move(key), std::move(value)}}, store::AckMode::kLocal, Seconds(5))
      .status();
}

std::vector<std::string> DatabaseService::Registered() const {
  std::vector<store::Entry> entries;
  std::vector<std::string> names;
  if (!log_->Scan(keys::kDbNode, &entries).ok()) return names;
  for (const auto& entry : entries) {
    if (!entry.tombstone) names.push_back(entry.key.substr(keys::kDbNode.size()));
  }
  return names;
}

db::GaleraOptions DatabaseService::Options() const {
  db::GaleraOptions options;
  options.node_name = config_.node_name;
  options.host = config_.advertise.host;
  options.port = config_.db.port;
  options.galera_port = config_.db.galera_port;
  options.ist_port = config_.db.ist_port;
  options.sst_port = config_.db.sst_port;
  options.data_dir = data_dir_;
  options.run_dir = run_dir_;
  options.user = config_.db.user;
  options.sst_user = kSstUser;
  options.sst_password = sst_password_;
  options.buffer_pool_mb = config_.db.buffer_pool_mb;
  options.gcache_mb = config_.db.gcache_mb;
  options.max_connections = config_.db.max_connections;
  return options;
}

void DatabaseService::SetWhy(std::string why) {
  std::lock_guard lock(mutex_);
  if (why != why_) spdlog::info("db: {}", why);
  why_ = std::move(why);
}

}  // namespace starling::agent
