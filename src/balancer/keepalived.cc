#include "src/balancer/keepalived.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cctype>

namespace starling::balancer {

namespace {

bool IsAddress(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

bool IsTame(const std::string& text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

Status Validate(const VrrpOptions& options) {
  if (!IsTame(options.node)) return Status::InvalidArgument("vrrp: bad node name");
  if (!IsTame(options.interface)) return Status::InvalidArgument("vrrp: bad interface name");
  if (!IsAddress(options.address)) {
    return Status::InvalidArgument("vrrp: '" + options.address + "' is not an IP address");
  }
  for (const auto& peer : options.peers) {
    if (!IsAddress(peer)) return Status::InvalidArgument("vrrp: peer '" + peer + "' is not an IP");
  }
  const auto slash = options.virtual_address.find('/');
  const std::string vip = options.virtual_address.substr(0, slash);
  if (!IsAddress(vip) || slash == std::string::npos ||
      options.virtual_address.find_first_not_of("0123456789", slash + 1) != std::string::npos ||
      slash + 1 == options.virtual_address.size()) {
    return Status::InvalidArgument(
        "vrrp: the shared address must be IP/prefix, e.g. 10.0.0.100/24");
  }
  if (options.router_id < 1 || options.router_id > 255) {
    return Status::InvalidArgument("vrrp: router id must be 1-255");
  }
  if (options.priority < 1 || options.priority > 254) {
    return Status::InvalidArgument("vrrp: priority must be 1-254");
  }
  if (!(options.advert_s >= 0.01 && options.advert_s <= 40)) {
    return Status::InvalidArgument("vrrp: advert interval must be 0.01-40 s");
  }
  if (options.nginx_pid_file.empty() || options.nginx_pid_file[0] != '/' ||
      options.nginx_pid_file.find_first_of("'\"\\$`\n ") != std::string::npos) {
    return Status::InvalidArgument("vrrp: nginx's pid file must be a plain absolute path");
  }
  return Status::Ok();
}

std::string RenderKeepalived(const VrrpOptions& options) {
  // Unicast to the peers; a balancer that knows none yet speaks multicast VRRP on the
  // interface (and holds the address alone until a peer appears).
  std::string unicast;
  if (!options.peers.empty()) {
    unicast = fmt::format("    unicast_src_ip {}\n    unicast_peer {{\n", options.address);
    // Adverts are taken from the peers only, and only from the same link: VRRP sends with TTL
    // 255, so anything routed here from elsewhere (or spoofed off-link) arrives with less.
    for (const auto& peer : options.peers) {
      unicast += fmt::format("        {} min_ttl 255 max_ttl 255\n", peer);
    }
    unicast += "    }\n    check_unicast_src\n";
  }
  return fmt::format(R"(# Written by starling agent; every change here is overwritten.
global_defs {{
    router_id {node}
    vrrp_version 3
    script_user root
    enable_script_security
}}

vrrp_script starling_nginx {{
    script "/bin/sh -c 'kill -0 $(cat {pid_file})'"
    interval 1
    fall 2
    rise 1
}}

vrrp_instance starling {{
    state BACKUP
    nopreempt
    interface {interface}
    virtual_router_id {router_id}
    priority {priority}
    advert_int {advert}
{unicast}    virtual_ipaddress {{
        {vip} dev {interface}
    }}
    track_script {{
        starling_nginx
    }}
}}
)",
                     fmt::arg("node", options.node), fmt::arg("pid_file", options.nginx_pid_file),
                     fmt::arg("interface", options.interface),
                     fmt::arg("router_id", options.router_id),
                     fmt::arg("priority", options.priority),
                     fmt::arg("advert", fmt::format("{:g}", options.advert_s)),
                     fmt::arg("unicast", unicast), fmt::arg("vip", options.virtual_address));
}

}  // namespace starling::balancer
