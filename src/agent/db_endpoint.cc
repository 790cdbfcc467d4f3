#include "src/agent/db_endpoint.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "base/file.h"
#include "src/agent/clock.h"
#include "src/process/run.h"

namespace starling::agent {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kRestartDelayMs = 2000;
constexpr int64_t kReapplyMs = 5000;  // the whole state again, in case HAProxy lost it

}  // namespace

DbEndpoint::DbEndpoint(const AgentConfig& config) : config_(config) {
  dir_ = (fs::absolute(config_.data_dir) / "db-endpoint").string();
  options_.listen_host = config_.db.endpoint.host;
  options_.listen_port = config_.db.endpoint.port;
  options_.admin_socket = dir_ + "/admin.sock";
}

DbEndpoint::~DbEndpoint() { Stop(); }

void DbEndpoint::Update(const std::vector<rules::DbNodeView>& nodes) {
  if (nodes.empty()) return;  // no database in this cluster: no endpoint
  std::vector<db::DbServer> servers;
  for (const auto& node : nodes) {
    auto address = ParseHostPort(node.client_address, "database address");
    if (!address.ok()) continue;
    servers.push_back({node.name, address->host, address->port});
  }
  std::string writer = rules::DbWriter(nodes);
  std::lock_guard lock(mutex_);
  const bool changed = servers != wanted_servers_ || writer != wanted_writer_;
  wanted_servers_ = std::move(servers);
  wanted_writer_ = std::move(writer);
  if (posted_ || (!changed && WallMs() - last_applied_ms_ < kReapplyMs)) return;
  posted_ = true;
  asio::post(worker_, [this] {
    std::vector<db::DbServer> servers_now;
    std::string writer_now;
    {
      std::lock_guard inner(mutex_);
      posted_ = false;
      servers_now = wanted_servers_;
      writer_now = wanted_writer_;
    }
    Apply(std::move(servers_now), std::move(writer_now));
  });
}

nlohmann::json DbEndpoint::StateJson() const {
  std::lock_guard lock(mutex_);
  nlohmann::json state = {
      {"listen", config_.db.endpoint.ToString()}, {"writer", applied_writer_}, {"pid", pid_}};
  if (!why_.empty()) state["why"] = why_;
  return state;
}

void DbEndpoint::Stop() {
  worker_.join();
  if (haproxy_ && haproxy_->pid() > 0) haproxy_->Stop(SIGTERM, Seconds(5));
  std::lock_guard lock(mutex_);
  pid_ = -1;
}

Status DbEndpoint::EnsureRunning() {
  if (haproxy_ && haproxy_->pid() > 0 && !haproxy_->CheckExited()) return Status::Ok();
  if (haproxy_) {
    spdlog::error("db endpoint: haproxy exited; see {}/haproxy.log", dir_);
    haproxy_.reset();
    restart_after_ms_ = WallMs() + kRestartDelayMs;
  }
  if (WallMs() < restart_after_ms_) return Status::Unavailable("haproxy restarts shortly");
  std::error_code ec;
  fs::create_directories(dir_, ec);
  fs::permissions(dir_, fs::perms::owner_all, ec);
  const std::string file = dir_ + "/haproxy.cfg";
  if (Status s = WriteFileAtomically(file, db::RenderEndpointConfig(options_), 0600); !s.ok()) {
    return s;
  }
  auto checked =
      process::RunProgram({config_.db.haproxy, "-c", "-q", "-f", file}, {.timeout = Seconds(10)});
  if (!checked.ok()) return checked.status();
  if (checked->exit_code != 0) {
    return Status::FailedPrecondition("haproxy refused its configuration: " + checked->output);
  }
  process::SpawnOptions spawn;
  spawn.argv = {config_.db.haproxy, "-db", "-f", file};  // -db: in the foreground
  spawn.output_file = dir_ + "/haproxy.log";
  spawn.new_session = true;
  spawn.pid_file = dir_ + "/haproxy.pid";
  auto child = std::make_unique<process::Child>(std::move(spawn));
  if (Status s = child->Start(); !s.ok()) return s;
  // Its runtime API answers once it runs: a new HAProxy has every slot disabled.
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::string answer;
    if (Command("show info", &answer).ok()) break;
    ::usleep(20 * 1000);  // polling the admin socket, bounded (1 s)
  }
  haproxy_ = std::move(child);
  state_ = {};
  spdlog::info("db endpoint: haproxy listening at {} for copies", config_.db.endpoint.ToString());
  return Status::Ok();
}

void DbEndpoint::Apply(std::vector<db::DbServer> servers, std::string writer) {
  Status running = EnsureRunning();
  if (!running.ok()) {
    std::lock_guard lock(mutex_);
    if (why_ != running.message()) spdlog::warn("db endpoint: {}", running.message());
    why_ = running.message();
    return;
  }
  const db::EndpointPlan plan = db::PlanEndpoint(state_, servers, writer, options_.slots);
  for (const auto& name : plan.unplaced) {
    spdlog::warn("db endpoint: no free slot for db node {}", name);
  }
  for (const auto& command : plan.commands) {
    std::string answer;
    if (Status s = Command(command, &answer); !s.ok()) {
      std::lock_guard lock(mutex_);
      why_ = "haproxy's runtime API: " + s.message();
      spdlog::warn("db endpoint: {}", why_);
      return;  // the next Update applies the whole plan again
    }
  }
  const std::string before = state_.writer_slot ? state_.slots[state_.writer_slot].name : "";
  state_ = plan.next;
  if (writer != before) {
    spdlog::info("db endpoint: writer {} (was {})", writer.empty() ? "none" : writer,
                 before.empty() ? "none" : before);
  }
  std::lock_guard lock(mutex_);
  applied_writer_ = writer;
  why_ = writer.empty() ? "no db node is Synced" : "";
  pid_ = haproxy_->pid();
  last_applied_ms_ = WallMs();
}

Status DbEndpoint::Command(const std::string& command, std::string* answer) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", options_.admin_socket.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    return Status::Unavailable(std::string("connect: ") + std::strerror(error));
  }
  const std::string line = command + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return Status::Unavailable("cannot send to haproxy");
  }
  answer->clear();
  char buffer[4096];
  for (;;) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 1000) != 1) {
      ::close(fd);
      return Status::Timeout("haproxy did not answer '" + command + "' in 1 s");
    }
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;  // it closes after answering one command
    if (answer->size() < 65536) answer->append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  // Refusals read like "No such server." or "Require 'backend/server'."
  if (answer->starts_with("No such") || answer->starts_with("Require") ||
      answer->find("nknown command") != std::string::npos) {
    return Status::FailedPrecondition(*answer);
  }
  return Status::Ok();
}

}  // namespace starling::agent
