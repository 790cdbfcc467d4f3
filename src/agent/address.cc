#include "src/agent/address.h"

#include <cctype>
#include <charconv>
#include <optional>

namespace starling::agent {

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(text) +
                                   "': " + std::string(why) + " (expected host:port)");
  };
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("unterminated IPv6 address");
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (out.host.empty()) return bad("empty host");
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return bad("port must be 1-65535");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8, written as a dotted quad.
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

Result<ApiAddress> ParseApiAddress(std::string_view text, std::string_view what) {
  ApiAddress out;
  std::optional<bool> tls;
  if (text.starts_with("https://")) {
    tls = true;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    tls = false;
    text.remove_prefix(7);
  }
  if (text.find("://") != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(text) +
                                   "': the scheme must be https:// or http://");
  }
  if (!text.empty() && text.back() == '/') text.remove_suffix(1);
  auto address = ParseHostPort(text, what);
  if (!address.ok()) return address.status();
  out.address = *address;
  out.tls = tls.value_or(!IsLoopbackHost(out.address.host));
  return out;
}

}  // namespace starling::agent
