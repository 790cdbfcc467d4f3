#include "src/auth/access.h"

#include <arpa/inet.h>

#include <algorithm>

namespace starling::auth {
namespace {

// "host" of "host:port", "[v6]:port" or "host".
std::string_view HostPart(std::string_view authority) {
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(':') == colon) {
    return authority.substr(0, colon);
  }
  return authority;
}

bool IsIpLiteral(std::string_view host) {
  const std::string text(host);
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

}  // namespace

Status Allows(const Principal& who, const Access& access, std::string_view site) {
  if (who.role < access.role) {
    return Status::PermissionDenied("this needs the " + std::string(RoleName(access.role)) +
                                    " role; '" + who.name + "' is " +
                                    std::string(RoleName(who.role)));
  }
  if (who.site.empty()) return Status::Ok();
  if (access.site_list) return Status::Ok();
  if (access.site_group == 0) {
    return Status::PermissionDenied("'" + who.name + "' may act on site '" + who.site +
                                    "' only, and this is not about one site");
  }
  if (site != who.site) {
    return Status::PermissionDenied("'" + who.name + "' may act on site '" + who.site +
                                    "' only, not '" + std::string(site) + "'");
  }
  return Status::Ok();
}

Status CheckBrowserHeaders(std::string_view host, std::string_view origin,
                           const std::vector<std::string>& allowed_hosts) {
  const std::string_view name = HostPart(host);
  const bool known =
      name.empty() || IsIpLiteral(name) || name == "localhost" ||
      std::find(allowed_hosts.begin(), allowed_hosts.end(), name) != allowed_hosts.end();
  if (!known) {
    return Status::PermissionDenied("Host '" + std::string(host) +
                                    "' is not a name of this node (add it to api_hosts)");
  }
  if (origin.empty()) return Status::Ok();
  std::string_view authority = origin;
  const size_t scheme = authority.find("://");
  if (scheme != std::string_view::npos) authority.remove_prefix(scheme + 3);
  if (authority != host) {
    return Status::PermissionDenied("Origin '" + std::string(origin) +
                                    "' is not this node: cross-site requests are refused");
  }
  return Status::Ok();
}

}  // namespace starling::auth
