#include "src/agent/containment.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>

#include <filesystem>

#include "src/copies/driver.h"
#include "src/copies/firewall.h"
#include "src/copies/id_range.h"
#include "src/images/idmap.h"

namespace starling::agent {

namespace fs = std::filesystem;

Result<std::unique_ptr<Isolation>> StartIsolation(const AgentConfig& config,
                                                  std::string_view driver) {
  if (driver == "process") return std::unique_ptr<Isolation>();  // development: none at all
  const std::string table = copies::FirewallTableFor(config.node_name);
  auto firewall = copies::Firewall::Make((fs::path(config.data_dir) / "firewall").string());
  if (!config.copies.isolate_network) {
    spdlog::warn(
        "copies.isolate_network = false: copies can reach this node's services and the "
        "cluster's");
    if (firewall.ok()) (*firewall)->Remove(table).IgnoreError();  // an earlier run's rules
    return std::unique_ptr<Isolation>();
  }
  if (!firewall.ok()) {
    return Status::Unavailable(firewall.status().message() +
                               " (copies.isolate_network = false runs copies without it)");
  }
  copies::FirewallSpec spec{.table = table,
                            .cgroup = std::string(copies::kCopiesCgroup),
                            .members = {config.bind.host, config.api.host},
                            // A local DNS resolver, and the database endpoint (src/db/endpoint.h).
                            .local_ports = {53, config.db.endpoint.port}};
  if (!config.advertise.host.empty()) spec.members.push_back(config.advertise.host);
  auto isolation = Isolation::Start(std::move(firewall.value()), std::move(spec));
  spdlog::info("copies reach neither this node nor the cluster's members (nftables table {})",
               table);
  return isolation;
}

Status PrepareUserNamespaces(const AgentConfig& config, std::string_view driver) {
  if (driver == "process" || !config.copies.user_namespaces) return Status::Ok();
  const std::string opt_out = " (copies.user_namespaces = false runs copies without)";
  const fs::path data = config.data_dir;
  std::error_code ec;
  const fs::path copies_dir = fs::absolute(data / "copies", ec);
  fs::create_directories(copies_dir, ec);
  if (ec) return Status::IoError("cannot create " + copies_dir.string() + ": " + ec.message());
  for (const fs::path& dir : {copies_dir, copies_dir.parent_path()}) {
    fs::permissions(dir, fs::perms(0711), ec);
    if (ec) return Status::IoError("cannot set " + dir.string() + " to 0711: " + ec.message());
  }
  for (fs::path dir = copies_dir.parent_path().parent_path(); !dir.empty();
       dir = dir.parent_path()) {
    const auto perms = fs::status(dir, ec).permissions();
    if (!ec && (perms & fs::perms::others_exec) == fs::perms::none) {
      return Status::Unavailable(
          "copies run in user namespaces, as users who must pass through " + dir.string() +
          " to reach their roots; it lets no one else pass (chmod o+x it)" + opt_out);
    }
    if (dir == dir.root_path()) break;
  }
  const fs::path probe = data / "images" / ".idmap-probe";
  fs::create_directories(probe / "from", ec);
  fs::create_directories(probe / "to", ec);
  const Status mapped =
      images::MountIdmapped((probe / "from").string(), (probe / "to").string(), copies::kIdFirst);
  if (mapped.ok() && ::umount2((probe / "to").c_str(), MNT_DETACH) != 0) {
    return Status::IoError("cannot unmount " + (probe / "to").string());
  }
  fs::remove_all(probe, ec);
  if (!mapped.ok()) return Status::Unavailable(mapped.message() + opt_out);
  return Status::Ok();
}

}  // namespace starling::agent
