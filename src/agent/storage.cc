#include "src/agent/storage.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/xattr.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "src/agent/clock.h"
#include "src/files/gluster_xml.h"
#include "src/process/run.h"
#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::agent {
namespace fs = std::filesystem;

namespace {

constexpr char kGlfsheal[] = "/usr/lib/x86_64-linux-gnu/glusterfs/glfsheal";
constexpr int64_t kBrickSettleMs = 5000;    // glusterd starts its bricks itself at first
constexpr int64_t kBrickRestartMs = 10000;  // between two `volume start force`
constexpr int64_t kHealEveryMs = 5000;
constexpr int64_t kKeepEveryMs = 10000;

// The pid a gluster pid file names, if its command line mentions `marker` (a reused pid is left
// alone).
pid_t DaemonPid(const fs::path& file, const std::string& marker) {
  std::ifstream in(file);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return -1;
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok() || cmdline->find(marker) == std::string::npos) return -1;
  return static_cast<pid_t>(pid);
}

}  // namespace

StorageService::StorageService(const AgentConfig& config, LogDriver* log,
                               std::function<void()> changed)
    : config_(config), log_(log), changed_(std::move(changed)) {
  base_ = (fs::absolute(config_.data_dir) / "glusterfs").string();
  log_dir_ = base_ + "/log";
  brick_ = config_.files.brick_dir.empty() ? base_ + "/brick" : config_.files.brick_dir;
  // glusterd's own port, 24007: peers probe it and clients fetch volfiles there by default.
  glusterd_options_ = {base_ + "/state", base_ + "/run", config_.advertise.host};
  socket_ = files::SocketPath(glusterd_options_);
}

StorageService::~StorageService() { Stop(); }

Status StorageService::Start() {
  for (const char* program : {"glusterd", "gluster"}) {
    if (!process::InPath(program)) {
      return Status::FailedPrecondition(std::string("no ") + program +
                                        " (apt-get install glusterfs-server glusterfs-client)");
    }
  }
  if (Status s = files::Validate(glusterd_options_); !s.ok()) return s;
  std::error_code ec;
  for (const std::string& dir :
       {glusterd_options_.state_dir, glusterd_options_.run_dir, log_dir_, brick_}) {
    fs::create_directories(dir, ec);
    if (ec) return Status::IoError("cannot make " + dir + ": " + ec.message());
  }
  fs::permissions(base_, fs::perms(0700), ec);
  if (Status s = WriteFileAtomically(base_ + "/glusterd.vol",
                                     files::RenderGlusterdVol(glusterd_options_), 0600);
      !s.ok()) {
    return s;
  }
  {
    std::lock_guard lock(mutex_);
    report_.state = static_cast<uint8_t>(rules::FilesState::kDown);
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void StorageService::Update(std::vector<rules::StorageNodeView> nodes, bool standing,
                            std::vector<std::string> member_hosts) {
  std::lock_guard lock(mutex_);
  nodes_ = std::move(nodes);
  standing_ = standing;
  member_hosts_ = std::move(member_hosts);
}

gossip::FilesReport StorageService::Report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

nlohmann::json StorageService::StateJson() const {
  std::lock_guard lock(mutex_);
  nlohmann::json state = status_;
  state["state"] = rules::FilesStateName(static_cast<rules::FilesState>(report_.state));
  state["brick"] = config_.advertise.host + ":" + brick_;
  state["in_volume"] = report_.in_volume;
  state["brick_up"] = report_.brick_up;
  state["heal_pending"] = report_.heal_pending;
  state["glusterd_pid"] = glusterd_pid_.load();
  if (!why_.empty()) state["why"] = why_;
  return state;
}

void StorageService::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (glusterd_ && glusterd_->pid() > 0) {
    spdlog::info("files: stopping glusterd (pid {})", glusterd_->pid());
    glusterd_->Stop(SIGTERM, Seconds(10));
  }
  glusterd_pid_ = -1;
  EndDaemons();
}

void StorageService::EndDaemons() {
  // The bricks and daemons glusterd started are daemons of their own (not in its group): ended
  // by their pid files under this node's run dir.
  std::vector<pid_t> pids;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(glusterd_options_.run_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() != ".pid") continue;
    if (pid_t pid = DaemonPid(it->path(), glusterd_options_.run_dir); pid > 0) {
      ::kill(pid, SIGTERM);
      pids.push_back(pid);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (pid_t pid : pids) {
    while (fs::exists("/proc/" + std::to_string(pid)) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (fs::exists("/proc/" + std::to_string(pid))) ::kill(pid, SIGKILL);
  }
}

void StorageService::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    Tick();
    if (const gossip::FilesReport now = Report(); now != notified_) {
      notified_ = now;
      if (changed_) changed_();
    }
    lock.lock();
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void StorageService::Tick() {
  if (!registered_) {
    // The node and its brick, once (again when the brick moved): the volume rule waits for every
    // registered node, and the others find its brick there.
    auto entry = log_->Get(keys::StorageNode(config_.node_name));
    const auto record = entry.ok() && entry->has_value() && !(*entry)->tombstone
                            ? nlohmann::json::parse((*entry)->value, nullptr, false)
                            : nlohmann::json();
    if (record.is_object() && record.value("brick", "") == brick_) {
      registered_ = true;
    } else if (auto written = log_->WriteAndWait(
                   {{keys::StorageNode(config_.node_name),
                     nlohmann::json{{"brick", brick_}, {"at_ms", WallMs()}}.dump()}},
                   store::AckMode::kLocal, Seconds(5));
               written.ok()) {
      registered_ = true;
    } else {
      SetWhy("cannot register as a storage node: " + written.status().message());
      return;
    }
  }
  if (!glusterd_ || glusterd_->pid() <= 0 || glusterd_->CheckExited()) {
    if (glusterd_) {
      spdlog::error("files: glusterd exited; its log ends:\n{}",
                    ReadTail(log_dir_ + "/glusterd.log", 1500));
    }
    process::SpawnOptions spawn;
    spawn.argv = {"glusterd", "-N",
                  "-f",       base_ + "/glusterd.vol",
                  "-p",       glusterd_options_.run_dir + "/glusterd.pid",
                  "-l",       log_dir_ + "/glusterd.log"};
    spawn.output_file = log_dir_ + "/glusterd.out";
    spawn.new_session = true;
    spawn.pid_file = base_ + "/glusterd.child.pid";
    auto child = std::make_unique<process::Child>(std::move(spawn));
    if (Status s = child->Start(); !s.ok()) {
      SetWhy("cannot start glusterd: " + s.message());
      return;
    }
    spdlog::info("files: glusterd started (pid {}) on {}:{}", child->pid(),
                 glusterd_options_.bind_address, glusterd_options_.port);
    glusterd_pid_ = child->pid();
    glusterd_ = std::move(child);
    glusterd_up_ms_ = WallMs();
    std::lock_guard lock(mutex_);
    report_.state = static_cast<uint8_t>(rules::FilesState::kDown);
    report_.brick_up = false;
    return;
  }
  Observe();
  bool standing = false;
  {
    std::lock_guard lock(mutex_);
    standing = standing_;
  }
  if (standing && report_.state >= static_cast<uint8_t>(rules::FilesState::kNoVolume)) Decide();
  if (standing && WallMs() - kept_ms_ >= kKeepEveryMs) Keep();
  if (WallMs() - heal_read_ms_ >= kHealEveryMs) ReadHeal();
}

Result<std::string> StorageService::Gluster(const std::vector<std::string>& args) {
  auto ran = process::RunProgram(files::GlusterArgv(socket_, log_dir_ + "/cli.log", args),
                                 {.timeout = Seconds(60)});
  if (!ran.ok()) return ran.status();
  return ran->output;
}

Status StorageService::Run(const std::vector<std::string>& args) {
  auto answer = Gluster(args);
  return answer.ok() ? files::CliOutcome(*answer) : answer.status();
}

std::vector<rules::StorageNodeView> StorageService::ViewWithSelf() const {
  std::lock_guard lock(mutex_);
  std::vector<rules::StorageNodeView> nodes = nodes_;
  std::erase_if(nodes, [&](const auto& n) { return n.name == config_.node_name; });
  nodes.push_back({config_.node_name, config_.advertise.host, brick_, true,
                   static_cast<rules::FilesState>(report_.state), report_.in_volume,
                   report_.brick_up});
  return nodes;
}

void StorageService::Observe() {
  auto answer = Gluster({"volume", "info", files::kVolume});
  auto info =
      answer.ok() ? files::ParseVolumeInfo(*answer) : Result<files::VolumeInfo>(answer.status());
  if (!info.ok()) {
    // Starting, or not answering.
    std::lock_guard lock(mutex_);
    report_.state = static_cast<uint8_t>(rules::FilesState::kDown);
    status_["glusterd"] = info.status().message();
    return;
  }
  const std::string own = files::Brick(config_.advertise.host, brick_);
  const bool in_volume =
      std::find(info->bricks.begin(), info->bricks.end(), own) != info->bricks.end();
  bool brick_up = false;
  if (info->started && in_volume) {
    auto status = Gluster({"volume", "status", files::kVolume});
    auto bricks = status.ok() ? files::ParseVolumeStatus(*status)
                              : Result<std::vector<files::BrickStatus>>(status.status());
    if (bricks.ok()) {
      for (const auto& brick : *bricks) {
        if (brick.host == config_.advertise.host && brick.path == brick_) brick_up = brick.up;
      }
    }
    const int64_t now = WallMs();
    if (bricks.ok() && !brick_up && now - glusterd_up_ms_ >= kBrickSettleMs &&
        now - brick_started_ms_ >= kBrickRestartMs) {
      // glusterd does not restart a brick that died: this node's glusterd starts it again.
      brick_started_ms_ = now;
      spdlog::warn("files: this node's brick is down; starting it again");
      if (Status s = Run({"volume", "start", files::kVolume, "force"}); !s.ok()) {
        SetWhy("cannot start this node's brick: " + s.message());
      }
    }
  }
  volume_ = *info;
  const rules::FilesState state = !info->exists   ? rules::FilesState::kNoVolume
                                  : info->started ? rules::FilesState::kStarted
                                                  : rules::FilesState::kStopped;
  std::lock_guard lock(mutex_);
  report_.state = static_cast<uint8_t>(state);
  report_.in_volume = in_volume;
  report_.brick_up = brick_up;
  status_["glusterd"] = "running";
  status_["volume"] = {{"exists", info->exists},
                       {"started", info->started},
                       {"id", info->id},
                       {"replica", info->replica},
                       {"bricks", info->bricks}};
}

void StorageService::Decide() {
  std::vector<rules::StorageNodeView> nodes = ViewWithSelf();
  // Each node's brick, as it registered it.
  std::vector<store::Entry> entries;
  std::vector<std::string> registered;
  if (!log_->Scan(keys::kStorageNode, &entries).ok()) return;
  for (const auto& entry : entries) {
    if (entry.tombstone) continue;
    const std::string name = entry.key.substr(keys::kStorageNode.size());
    registered.push_back(name);
    const auto record = nlohmann::json::parse(entry.value, nullptr, /*allow_exceptions=*/false);
    const std::string brick = record.is_object() ? record.value("brick", "") : "";
    for (auto& node : nodes) {
      if (node.name == name && node.name != config_.node_name && brick.starts_with("/")) {
        node.brick = brick;
      }
    }
  }
  const rules::FilesDecision decision =
      rules::DecideFilesVolume(config_.node_name, registered, nodes);
  if (decision.action == rules::FilesAction::kWait) {
    SetWhy(decision.why);
    return;
  }
  if (decision.action == rules::FilesAction::kNone) {
    SetWhy("");
    return;
  }
  spdlog::info("files: {}", decision.why);
  if (Status s = Act(decision); !s.ok()) SetWhy(decision.why + ": " + s.message());
}

Status StorageService::ProbeAll(const std::vector<std::string>& bricks) {
  std::vector<std::string> hosts;
  for (const auto& brick : bricks) {
    const std::string host = brick.substr(0, brick.find(':'));
    if (host != config_.advertise.host) hosts.push_back(host);
  }
  for (const auto& host : hosts) {
    if (Status s = Run({"peer", "probe", host}); !s.ok()) {
      return Status(s.code(), "peer probe " + host + ": " + s.message());
    }
  }
  auto answer = Gluster({"peer", "status"});
  if (!answer.ok()) return answer.status();
  auto peers = files::ParsePeerStatus(*answer);
  if (!peers.ok()) return peers.status();
  for (const auto& host : hosts) {
    const bool ready = std::any_of(peers->begin(), peers->end(), [&](const files::PeerInfo& p) {
      return p.hostname == host && p.connected && p.in_cluster;
    });
    if (!ready) return Status::Unavailable("waiting for peer " + host + " to join the pool");
  }
  return Status::Ok();
}

Status StorageService::Act(const rules::FilesDecision& decision) {
  if (Status s = ProbeAll(decision.bricks); !s.ok()) return s;
  const std::string replica = std::to_string(rules::kFilesReplica);
  if (decision.action == rules::FilesAction::kAddBricks) {
    std::vector<std::string> args = {"volume", "add-brick", files::kVolume, "replica", replica};
    args.insert(args.end(), decision.bricks.begin(), decision.bricks.end());
    args.push_back("force");  // bricks may be on the root file system
    return Run(args);
  }
  std::vector<std::string> args = {"volume", "create", files::kVolume, "replica", replica};
  args.insert(args.end(), decision.bricks.begin(), decision.bricks.end());
  args.push_back("force");
  if (Status s = Run(args); !s.ok() && s.message().find("already exists") == std::string::npos) {
    return s;
  }
  for (const auto& [name, value] : files::VolumeOptions(config_.files.ping_timeout_s)) {
    if (Status s = Run({"volume", "set", files::kVolume, name, value}); !s.ok()) {
      return Status(s.code(), "volume set " + name + ": " + s.message());
    }
  }
  if (Status s = Run({"volume", "start", files::kVolume});
      !s.ok() && s.message().find("already started") == std::string::npos) {
    return s;
  }
  spdlog::info("files: volume {} created and started with {} bricks", files::kVolume,
               decision.bricks.size());
  return Status::Ok();
}

void StorageService::ReadHeal() {
  heal_read_ms_ = WallMs();
  if (report_.state != static_cast<uint8_t>(rules::FilesState::kStarted) ||
      !fs::exists(kGlfsheal)) {
    return;
  }
  auto ran = process::RunProgram(
      {kGlfsheal, files::kVolume, "info-summary", "--xml", "glusterd-sock", socket_},
      {.timeout = Seconds(30)});
  auto heal = ran.ok() ? files::ParseHealSummary(ran->output)
                       : Result<std::vector<files::HealBrick>>(ran.status());
  std::lock_guard lock(mutex_);
  if (!heal.ok()) {
    status_["heal"] = {{"error", heal.status().message()}};
    return;
  }
  nlohmann::json bricks = nlohmann::json::array();
  const std::string own = files::Brick(config_.advertise.host, brick_);
  uint64_t own_pending = 0;
  for (const auto& brick : *heal) {
    bricks.push_back({{"brick", brick.name},
                      {"connected", brick.connected},
                      {"pending", brick.pending},
                      {"split_brain", brick.split_brain}});
    if (brick.name == own) own_pending = brick.pending;
  }
  status_["heal"] = bricks;
  report_.heal_pending = static_cast<uint32_t>(std::min<uint64_t>(own_pending, UINT32_MAX));
}

void StorageService::SetWhy(std::string why) {
  std::lock_guard lock(mutex_);
  if (why != why_ && !why.empty()) spdlog::info("files: {}", why);
  why_ = std::move(why);
}

}  // namespace starling::agent
