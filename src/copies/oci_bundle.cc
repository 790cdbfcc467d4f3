#include "src/copies/oci_bundle.h"

#include <algorithm>
#include <cmath>

#include "src/copies/id_range.h"
#include "src/copies/seccomp.h"

namespace starling::copies {

namespace {

constexpr int64_t kCfsPeriodMicros = 100'000;

nlohmann::json Mount(const char* destination, const char* type, const char* source,
                     std::vector<std::string> options) {
  return {{"destination", destination}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

nlohmann::json OciConfig(const CopySpec& spec) {
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [name, value] : spec.env) {
    if (name != "PORT" && name != "PATH") env.push_back(name + "=" + value);
    if (name == "PATH") env[0] = "PATH=" + value;
  }
  env.push_back("PORT=" + std::to_string(spec.port));
  // What a web server needs (bind low ports, drop to its user, own its files); nothing more.
  const std::vector<std::string> capabilities = {"CAP_CHOWN", "CAP_DAC_OVERRIDE",     "CAP_FOWNER",
                                                 "CAP_KILL",  "CAP_NET_BIND_SERVICE", "CAP_SETGID",
                                                 "CAP_SETUID"};
  nlohmann::json resources = {
      {"cpu",
       {{"period", kCfsPeriodMicros},
        {"quota", static_cast<int64_t>(std::llround(spec.cpus * kCfsPeriodMicros))}}}};
  if (spec.memory_bytes > 0) resources["memory"] = {{"limit", spec.memory_bytes}};
  if (spec.pids > 0) resources["pids"] = {{"limit", spec.pids}};
  nlohmann::json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", spec.command},
        {"env", env},
        {"cwd", spec.cwd},
        {"noNewPrivileges", true},
        {"capabilities",
         {{"bounding", capabilities}, {"effective", capabilities}, {"permitted", capabilities}}}}},
      {"root", {{"path", spec.root}, {"readonly", false}}},
      {"hostname", spec.id},
      {"mounts",
       {Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
        Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
        Mount("/dev/pts", "devpts", "devpts",
              {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
        Mount("/dev/shm", "tmpfs", "shm",
              {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
        Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
        Mount("/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"})}},
      {"linux",
       {{"cgroupsPath", spec.cgroup_path},
        {"resources", resources},
        // No network namespace: the copy listens on the host's loopback or address, on its port.
        {"namespaces",
         {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}}},
        // runc's defaults (`runc spec`): what tells of the host, or reaches into its kernel.
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
        {"seccomp", SeccompProfile()}}}};
  if (!spec.resolv_conf.empty()) {
    config["mounts"].push_back(Mount("/etc/resolv.conf", "bind", spec.resolv_conf.c_str(),
                                     {"rbind", "ro", "nosuid", "nodev", "noexec"}));
  }
  for (const auto& [source, destination] : spec.binds) {
    config["mounts"].push_back(
        Mount(destination.c_str(), "bind", source.c_str(), {"rbind", "rw", "nosuid", "nodev"}));
  }
  if (spec.id_base != 0) {
    auto& linux = config["linux"];
    linux["namespaces"].push_back({{"type", "user"}});
    const nlohmann::json range = {
        {{"containerID", 0}, {"hostID", spec.id_base}, {"size", kIdRange}}};
    linux["uidMappings"] = range;
    linux["gidMappings"] = range;
    auto& mounts = config["mounts"];
    mounts.erase(std::remove_if(mounts.begin(), mounts.end(),
                                [](const nlohmann::json& m) { return m["destination"] == "/sys"; }),
                 mounts.end());
  }
  return config;
}

}  // namespace starling::copies
