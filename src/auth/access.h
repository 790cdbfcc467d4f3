// src/auth/access.h — who is calling, and whether they may (docs/SECURITY.md). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "src/auth/token.h"

namespace starling::auth {

enum class Source : uint8_t {
  kToken,    // an API token (Authorization: Bearer stk....)
  kCluster,  // sealed with the cluster key: another agent, or the operator on a node
  kLocal,    // the node's own unix socket (root only)
};

struct Principal {
  std::string name;  // the token's name, "cluster" or "local"
  Role role = Role::kReadonly;
  std::string site;  // non-empty: may act on this site only
  Source source = Source::kToken;
};

// What a route needs.
struct Access {
  Role role = Role::kAdmin;  // the least role that may call it
  size_t site_group = 0;     // the route pattern's group naming the site it acts on (0: none)
  bool site_list = false;    // a listing a site's token may read (it sees its own site only)
};

// Whether `who` may call a route needing `access`; `site` is the route's site capture (empty
// when it names none). kPermissionDenied says what was missing.
Status Allows(const Principal& who, const Access& access, std::string_view site);

// DNS rebinding and cross-site requests from browsers: `host` (the Host header) must name this
// node by an IP literal, "localhost", or one of `allowed_hosts`; `origin`, when a browser sent
// one, must name the same host and port. Pure; kPermissionDenied says which header was wrong.
Status CheckBrowserHeaders(std::string_view host, std::string_view origin,
                           const std::vector<std::string>& allowed_hosts);

}  // namespace starling::auth
