// src/agent/address.h — the addresses the agent is given and gives: "host:port" (IPv6 in
// brackets) and an API's URL. Pure parsing, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace starling::agent {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};

// Splits "host:port" or "[v6]:port". Returns an error naming `what` when malformed.
Result<HostPort> ParseHostPort(std::string_view text, std::string_view what);

// Whether `host` is a loopback address or "localhost" (a wildcard is not).
bool IsLoopbackHost(std::string_view host);

// An agent's API as members advertise it and the CLI is given it: "https://host:port",
// "http://host:port", or a bare "host:port" — HTTPS unless the host is loopback (the agent's
// own default, api_tls = "auto").
struct ApiAddress {
  HostPort address;
  bool tls = false;
  std::string Url() const { return (tls ? "https://" : "http://") + address.ToString(); }
};
Result<ApiAddress> ParseApiAddress(std::string_view text, std::string_view what);

}  // namespace starling::agent
