#include "src/agent/files_mount.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/files/gluster.h"
#include "src/process/run.h"

namespace starling::agent {
namespace fs = std::filesystem;

FilesMount::FilesMount(const AgentConfig& config) : config_(config) {
  point_ = (fs::absolute(config_.data_dir) / "files").string();
  log_file_ = (fs::absolute(config_.data_dir) / "glusterfs-mount.log").string();
}

FilesMount::~FilesMount() { Stop(); }

Status FilesMount::Start() {
  if (!process::InPath("mount.glusterfs")) {
    return Status::FailedPrecondition(
        "no mount.glusterfs (apt-get install glusterfs-client): copies of sites with persisted "
        "paths cannot start here");
  }
  std::error_code ec;
  if (IsMountPoint() && !fs::is_directory(point_, ec)) {
    // What a crash left: the mount of a client that died ("Transport endpoint is not
    // connected"). Away with it; the service's first round mounts again.
    spdlog::warn("files: unmounting the dead mount an earlier run left at {}", point_);
    ::umount2(point_.c_str(), MNT_DETACH);
  }
  fs::create_directories(point_, ec);
  if (ec) return Status::IoError("cannot make " + point_ + ": " + ec.message());
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void FilesMount::Update(std::vector<std::string> servers) {
  std::lock_guard lock(mutex_);
  servers_ = std::move(servers);
}

nlohmann::json FilesMount::StateJson() const {
  std::lock_guard lock(mutex_);
  nlohmann::json state = {{"point", point_}, {"mounted", mounted_.load()}, {"servers", servers_}};
  if (!why_.empty()) state["why"] = why_;
  return state;
}

void FilesMount::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (IsMountPoint()) {
    // Lazily: the FUSE client ends once nothing holds the mount.
    if (::umount2(point_.c_str(), MNT_DETACH) != 0) {
      spdlog::warn("files: cannot unmount {}: {}", point_, std::strerror(errno));
    }
  }
  mounted_ = false;
}

void FilesMount::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    Tick();
    lock.lock();
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

std::pair<size_t, size_t> FilesMount::BricksConnected() const {
  // The client's own view (GlusterFS's meta translator): one "<volume>-client-N" per brick.
  const std::string graph = point_ + "/.meta/graphs/active";
  const std::string prefix = std::string(files::kVolume) + "-client-";
  size_t connected = 0, bricks = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(graph, ec)) {
    if (!entry.path().filename().string().starts_with(prefix)) continue;
    ++bricks;
    std::ifstream in(entry.path() / "private");
    std::string line;
    while (std::getline(in, line)) {
      if (line == "connected = 1") ++connected;
    }
  }
  return {connected, bricks};
}

bool FilesMount::IsMountPoint() const {
  // /proc/self/mounts: "device point type options ..." (a point with spaces is escaped; ours
  // has none).
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, point, type;
    if (fields >> device >> point >> type && point == point_ && type == "fuse.glusterfs") {
      return true;
    }
  }
  return false;
}

void FilesMount::Tick() {
  std::vector<std::string> servers;
  {
    std::lock_guard lock(mutex_);
    servers = servers_;
  }
  if (IsMountPoint()) {
    struct stat st {};
    if (::stat(point_.c_str(), &st) == 0) {
      // Ready once its client reaches every brick: a client that has reached only some when a
      // copy makes a site's directory can give it another identity (gfid) than a second
      // worker's client making it at once on the others — a directory in split-brain (seen).
      if (!mounted_.load()) {
        const auto [connected, bricks] = BricksConnected();
        if (bricks == 0 || connected < bricks) {
          std::lock_guard lock(mutex_);
          why_ = fmt::format("mounted; its client reaches {} of {} bricks", connected, bricks);
          return;
        }
        mounted_ = true;
        spdlog::info("files: the volume is mounted at {} ({} bricks)", point_, bricks);
      }
      std::lock_guard lock(mutex_);
      why_.clear();
      return;
    }
    // Its client is gone (ENOTCONN): away with it, and mount again below.
    spdlog::warn("files: the mount at {} does not answer ({}); mounting again", point_,
                 std::strerror(errno));
    mounted_ = false;
    ::umount2(point_.c_str(), MNT_DETACH);
  }
  mounted_ = false;
  if (servers.empty()) {
    std::lock_guard lock(mutex_);
    why_ = "no started volume yet";
    return;
  }
  auto ran =
      process::RunProgram(files::MountArgv(servers, point_, log_file_), {.timeout = Seconds(60)});
  std::string why;
  if (!ran.ok()) {
    why = ran.status().message();
  } else if (ran->exit_code != 0) {
    why = "mount failed: " + ran->output;
  }
  if (!why.empty()) {
    spdlog::warn("files: {}", why);
    std::lock_guard lock(mutex_);
    why_ = why;
  }
  // Mounted or not, the next round checks.
}

}  // namespace starling::agent
