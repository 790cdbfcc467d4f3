#include "src/copies/firewall.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "base/file.h"
#include "src/copies/cgroup.h"
#include "src/process/process.h"

namespace starling::copies {
namespace {

namespace fs = std::filesystem;

constexpr auto kNftTimeout = std::chrono::seconds(10);

bool IsIpv4(const std::string& text) {
  in_addr address{};
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1 && address.s_addr != 0;
}

bool IsIpv6(const std::string& text) {
  in6_addr address{};
  return ::inet_pton(AF_INET6, text.c_str(), &address) == 1 && !IN6_IS_ADDR_UNSPECIFIED(&address);
}

std::string Set(const std::string& name, const char* type, const std::set<std::string>& items) {
  std::string text = fmt::format("  set {} {{ type {};", name, type);
  if (!items.empty()) {
    text += " elements = { ";
    bool first = true;
    for (const std::string& item : items) {
      text += (first ? "" : ", ") + item;
      first = false;
    }
    text += " };";
  }
  return text + " }\n";
}

std::string FindNft() {
  for (const char* path : {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

}  // namespace

std::string FirewallTableFor(const std::string& node_name) {
  std::string table = "starling_" + node_name;
  for (char& c : table) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  }
  return table;
}

std::string FirewallRuleset(const FirewallSpec& spec) {
  std::set<std::string> v4, v6;
  for (const std::string& member : spec.members) {
    if (IsIpv4(member)) v4.insert(member);
    if (IsIpv6(member)) v6.insert(member);
  }
  std::string local_ports;
  for (uint16_t port : spec.local_ports) {
    local_ports += (local_ports.empty() ? "" : ", ") + std::to_string(port);
  }
  // "add" then "delete" then the definition, in one transaction: the table is replaced whole
  // whether or not it was there.
  std::string script =
      fmt::format("table inet {0}\ndelete table inet {0}\ntable inet {0} {{\n", spec.table);
  script += Set("members4", "ipv4_addr", v4);
  script += Set("members6", "ipv6_addr", v6);
  script += fmt::format(
      "  chain output {{\n"
      "    type filter hook output priority filter; policy accept;\n"
      "    socket cgroupv2 level 1 \"{}\" jump copy\n"
      "  }}\n",
      spec.cgroup);
  // Only what starts a conversation is judged: a TCP segment other than a bare SYN belongs to a
  // connection already made (a balancer's to the copy; nothing the copy opened to a refused
  // address ever got past its SYN). Stateless: no connection tracking, whose cost would fall
  // on every packet of the node (scripts/bench/isolation).
  script += "  chain copy {\n    tcp flags & (syn | ack) != syn accept\n";
  if (!local_ports.empty()) {
    script += fmt::format(
        "    fib daddr type local meta l4proto {{ tcp, udp }} th dport {{ {} }} accept\n",
        local_ports);
  }
  script +=
      "    fib daddr type { local, broadcast, multicast } counter reject\n"
      "    ip daddr 127.0.0.0/8 counter reject\n"
      "    ip6 daddr ::1 counter reject\n"
      "    ip daddr @members4 counter reject\n"
      "    ip6 daddr @members6 counter reject\n"
      "  }\n}\n";
  return script;
}

std::string FirewallRemoval(const std::string& table) {
  return fmt::format("table inet {0}\ndelete table inet {0}\n", table);
}

Result<std::unique_ptr<Firewall>> Firewall::Make(std::string scratch_dir) {
  const std::string nft = FindNft();
  if (nft.empty()) {
    return Status::Unavailable(
        "nft is not installed (apt-get install nftables): copies' network cannot be isolated");
  }
  const std::string unified = CgroupLayout::Detect().unified;
  if (unified.empty()) {
    return Status::Unavailable(
        "cgroup v2 is not mounted: copies' sockets cannot be told apart from the host's");
  }
  std::error_code ec;
  fs::create_directories(fs::path(unified) / "starling", ec);
  if (ec) return Status::IoError("cannot make the copies' cgroup: " + ec.message());
  fs::create_directories(scratch_dir, ec);
  if (ec) return Status::IoError("cannot create " + scratch_dir + ": " + ec.message());
  return std::unique_ptr<Firewall>(new Firewall(nft, unified, std::move(scratch_dir)));
}

uint64_t Firewall::CgroupId(const std::string& cgroup) const {
  struct stat info {};
  if (::stat((cgroup_root_ + "/" + cgroup).c_str(), &info) != 0) return 0;
  return info.st_ino;
}

Status Firewall::Run(const std::string& script) const {
  const std::string file = scratch_ + "/firewall.nft";
  const std::string output = scratch_ + "/firewall.out";
  if (Status s = WriteFileAtomically(file, script, 0600); !s.ok()) return s;
  std::error_code ec;
  fs::remove(output, ec);
  process::SpawnOptions options;
  options.argv = {nft_, "-f", file};
  options.output_file = output;
  if (cgroup_root_ != "/sys/fs/cgroup") {
    // nft looks a cgroup up under /sys/fs/cgroup: show it the v2 mount there, privately.
    options.root = "/";
    options.binds = {{cgroup_root_, "/sys/fs/cgroup"}};
  }
  auto pid = process::Spawn(options);
  if (!pid.ok()) return pid.status();
  const auto deadline = std::chrono::steady_clock::now() + kNftTimeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(*pid, &status, WNOHANG);
    if (done == *pid) break;
    if (done < 0 && errno != EINTR) return Status::IoError("lost nft's exit status");
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(*pid, SIGKILL);
      ::waitpid(*pid, &status, 0);
      return Status::Unavailable("nft did not finish in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  auto said = ReadFile(output);
  std::string text = said.ok() ? *said : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return Status::Unavailable("nft refused the copies' firewall: " + text.substr(0, 500));
}

Status Firewall::Apply(const FirewallSpec& spec) {
  std::error_code ec;
  fs::create_directories(fs::path(cgroup_root_) / spec.cgroup, ec);
  if (ec) return Status::IoError("cannot make the copies' cgroup: " + ec.message());
  if (Status s = Run(FirewallRuleset(spec)); !s.ok()) return s;
  applied_cgroup_id_ = CgroupId(spec.cgroup);
  return Status::Ok();
}

bool Firewall::Holds(const FirewallSpec& spec) const {
  if (applied_cgroup_id_ == 0 || CgroupId(spec.cgroup) != applied_cgroup_id_) return false;
  // The chains as the kernel has them now: both there, and not emptied (`nft flush chain`).
  if (!Run(fmt::format("list table inet {}\n", spec.table)).ok()) return false;
  auto listed = ReadFile(scratch_ + "/firewall.out");
  return listed.ok() && listed->find("socket cgroupv2 level 1") != std::string::npos &&
         listed->find("ip daddr @members4") != std::string::npos &&
         listed->find("fib daddr type") != std::string::npos;
}

Status Firewall::Remove(const std::string& table) { return Run(FirewallRemoval(table)); }

}  // namespace starling::copies
