// tests/integration/web.h — a browser for the LAMP tests: HTTP to one address with a site's
// Host header, cookies kept in a jar, forms posted, redirects not followed (the tests look at
// them).
#pragma once

#include <httplib.h>

#include <map>
#include <regex>
#include <string>

namespace starling::testing {

class Browser {
 public:
  Browser(std::string address, uint16_t port, std::string host)
      : address_(std::move(address)), port_(port), host_(std::move(host)) {}

  httplib::Result Get(const std::string& path) {
    httplib::Client client = Client();
    auto result = client.Get(path, Headers());
    Keep(result);
    return result;
  }
  httplib::Result PostForm(const std::string& path, const httplib::Params& form) {
    httplib::Client client = Client();
    auto result = client.Post(path, Headers(), form);
    Keep(result);
    return result;
  }
  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& content_type) {
    httplib::Client client = Client();
    auto result = client.Post(path, Headers(), body, content_type);
    Keep(result);
    return result;
  }
  // The same browser (cookies) at another address: a copy reached directly.
  Browser At(const std::string& address, uint16_t port) const {
    Browser other(address, port, host_);
    other.cookies_ = cookies_;
    return other;
  }
  void SetCookie(const std::string& name, const std::string& value) { cookies_[name] = value; }
  bool HasCookieStartingWith(const std::string& prefix) const {
    for (const auto& [name, value] : cookies_) {
      if (name.starts_with(prefix)) return true;
    }
    return false;
  }

 private:
  httplib::Client Client() const {
    httplib::Client client(address_, port_);
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(30, 0);
    return client;
  }
  httplib::Headers Headers() const {
    httplib::Headers headers = {{"Host", host_}};
    std::string cookie;
    for (const auto& [name, value] : cookies_) {
      cookie += (cookie.empty() ? "" : "; ") + name + "=" + value;
    }
    if (!cookie.empty()) headers.emplace("Cookie", cookie);
    return headers;
  }
  // Set-Cookie: NAME=VALUE; ... (a cookie set to "deleted" or expired in 1970 is dropped).
  void Keep(const httplib::Result& result) {
    if (!result) return;
    const auto [begin, end] = result->headers.equal_range("Set-Cookie");
    for (auto it = begin; it != end; ++it) {
      const std::string& line = it->second;
      const size_t equals = line.find('=');
      if (equals == std::string::npos) continue;
      const std::string name = line.substr(0, equals);
      const std::string value = line.substr(equals + 1, line.find(';') - equals - 1);
      if (value.empty() || value == "deleted" || value == "+" ||
          line.find("1970") != std::string::npos) {
        cookies_.erase(name);
      } else {
        cookies_[name] = value;
      }
    }
  }

  std::string address_;
  uint16_t port_;
  std::string host_;
  std::map<std::string, std::string> cookies_;
};

// The first group of `pattern` in `text`, or "".
inline std::string Find(const std::string& text, const std::string& pattern) {
  std::smatch match;
  return std::regex_search(text, match, std::regex(pattern)) ? match[1].str() : "";
}

}  // namespace starling::testing
