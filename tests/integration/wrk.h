// tests/integration/wrk.h — wrk (bounded by its own -d) run in the background, and what it
// said: requests done, each kind of failure it counts, and its latency percentiles when asked
// for with --latency. Shared by the load tests through a balancer pair's address.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <future>
#include <regex>
#include <string>

#include "tests/integration/cluster.h"

namespace starling::testing {

struct WrkResult {
  uint64_t requests = 0, non2xx = 0, connect = 0, read = 0, write = 0, timeout = 0;
  double p50_ms = 0, p99_ms = 0;  // with --latency
  std::string output;
  uint64_t failed() const { return non2xx + connect + read + write + timeout; }
};

inline WrkResult ParseWrk(std::string output) {
  WrkResult result;
  result.output = std::move(output);
  const std::string& out = result.output;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"((\d+) requests in)"))) {
    result.requests = std::stoull(m[1]);
  }
  if (std::regex_search(out, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))"))) {
    result.non2xx = std::stoull(m[1]);
  }
  if (std::regex_search(
          out, m,
          std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))"))) {
    result.connect = std::stoull(m[1]);
    result.read = std::stoull(m[2]);
    result.write = std::stoull(m[3]);
    result.timeout = std::stoull(m[4]);
  }
  const auto millis = [&](const char* percentile) {
    std::smatch p;
    if (!std::regex_search(out, p,
                           std::regex(std::string(percentile) + R"(\s+([\d.]+)(us|ms|s))"))) {
      return 0.0;
    }
    const double value = std::stod(p[1]);
    return p[2] == "us" ? value / 1000 : p[2] == "s" ? value * 1000 : value;
  };
  result.p50_ms = millis("50%");
  result.p99_ms = millis("99%");
  return result;
}

// `wrk ARGS` in the background (ARGS a shell line: its -d bounds it).
inline std::future<WrkResult> RunWrk(const std::string& args) {
  return std::async(std::launch::async,
                    [args] { return ParseWrk(RunCommand("wrk " + args + " 2>&1")); });
}

// A balancer of a pair sharing `vip` on eth0 of a lab namespace, serving on `listen`.
inline std::string BalancerPairConfig(uint16_t listen, const std::string& vip) {
  return fmt::format(
      "role = \"balancer\"\n[balancer]\nlisten = \"0.0.0.0:{}\"\nvip = \"{}/24\"\n"
      "interface = \"eth0\"\n",
      listen, vip);
}

}  // namespace starling::testing
