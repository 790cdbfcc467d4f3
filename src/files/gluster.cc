#include "src/files/gluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace starling::files {
namespace {

bool PlainPath(const std::string& path) {
  return !path.empty() && path.front() == '/' && std::none_of(path.begin(), path.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == ',';
  });
}

}  // namespace

Status Validate(const GlusterdOptions& options) {
  for (const std::string* dir : {&options.state_dir, &options.run_dir}) {
    if (!PlainPath(*dir)) {
      return Status::InvalidArgument("glusterd's directories must be absolute, without spaces: '" +
                                     *dir + "'");
    }
  }
  if (options.bind_address.empty() || !PlainPath("/" + options.bind_address)) {
    return Status::InvalidArgument("glusterd needs the node's address");
  }
  if (options.port == 0) return Status::InvalidArgument("glusterd needs a port");
  return Status::Ok();
}

std::string SocketPath(const GlusterdOptions& options) {
  return options.run_dir + "/glusterd.socket";
}

std::string RenderGlusterdVol(const GlusterdOptions& options) {
  // keepalive-time and -interval are not optional here: without them glusterd 10.3 cannot build
  // the transport to a peer it probes ("connect returned -2"), and the probe times out.
  return fmt::format(
      "# Written by the starling agent at each start (src/files/gluster.h).\n"
      "volume management\n"
      "    type mgmt/glusterd\n"
      "    option working-directory {}\n"
      "    option run-directory {}\n"
      "    option glusterd-sockfile {}\n"
      "    option transport-type socket\n"
      "    option transport.socket.bind-address {}\n"
      "    option transport.socket.listen-port {}\n"
      "    option transport.socket.keepalive-time 10\n"
      "    option transport.socket.keepalive-interval 2\n"
      "    option transport.socket.read-fail-log off\n"
      "    option ping-timeout 0\n"
      "    option event-threads 1\n"
      "end-volume\n",
      options.state_dir, options.run_dir, SocketPath(options), options.bind_address, options.port);
}

std::vector<std::string> GlusterArgv(const std::string& socket, const std::string& log_file,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"gluster", "--mode=script", "--glusterd-sock=" + socket,
                                   "--log-file=" + log_file};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--xml");
  return argv;
}

std::vector<std::pair<std::string, std::string>> VolumeOptions(uint32_t ping_timeout_s) {
  return {
      // Client side: a write needs a majority of the replica set (auto: 2 of 3).
      {"cluster.quorum-type", "auto"},
      // Server side: a glusterd that loses the majority of the pool stops its bricks.
      {"cluster.server-quorum-type", "server"},
      // A dead brick holds a client's writes this long (the default is 42 s).
      {"network.ping-timeout", std::to_string(ping_timeout_s)},
      // How often the self-heal daemons look for entries to heal even when no brick came back
      // (the default is 600 s): a brick cut off for less than the connections' timeouts never
      // "comes back" to them, and what was written meanwhile would wait ten minutes.
      {"cluster.heal-timeout", "10"},
  };
}

std::string AuthAllow(std::vector<std::string> hosts) {
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  std::string value;
  for (const auto& host : hosts) {
    // IP literals only (a name or a wildcard would let others in, or lock everyone out).
    const bool literal =
        !host.empty() && host != "0.0.0.0" && host != "::" &&
        std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':';
        });
    if (!literal) continue;
    if (!value.empty()) value += ',';
    value += host;
  }
  return value;
}

std::string Brick(const std::string& host, const std::string& path) { return host + ":" + path; }

std::vector<std::string> MountArgv(const std::vector<std::string>& servers,
                                   const std::string& mount_point, const std::string& log_file) {
  std::string options = "log-file=" + log_file;
  if (servers.size() > 1) {
    options += ",backup-volfile-servers=";
    for (size_t i = 1; i < servers.size(); ++i) {
      if (i > 1) options += ':';
      options += servers[i];
    }
  }
  return {"mount",    "-t",    "glusterfs",
          "-o",       options, servers.front() + ":/" + std::string(kVolume),
          mount_point};
}

}  // namespace starling::files
