// starling-bench-probe — measures what a SWIM probe costs round trip, from outside: it sends
// sealed Ping datagrams (the agents' own wire format, gossip/codec.h) to each agent and times
// their Acks, the very path a peer's failure detector depends on. Used by scripts/bench/iothread
// to compare agents under load; any build that speaks protocol version 1 answers it.
//
//   starling-bench-probe KEY_FILE SECONDS INTERVAL_MS name=host:port [name=host:port ...]
//   starling-bench-probe --echo PORT
//
// A target named "echo" is not an agent but `--echo`: a process that only sends back what it
// gets (8 bytes, unsealed). Its round trips are the machine's own floor under the same load,
// reported apart from the agents'.
//
// It sends one Ping every INTERVAL_MS / targets, round robin, for SECONDS or until SIGTERM or
// SIGINT, then waits 2 s for the last answers.
// Prints one JSON object: per target and over all, sent, answered, lost (no Ack within 2 s), and
// RTT percentiles in milliseconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gossip/codec.h"
#include "src/net/sealer.h"

namespace {

using Clock = std::chrono::steady_clock;
using starling::Result;
using starling::gossip::Ack;
using starling::gossip::Ping;

constexpr char kProber[] = "bench-prober";

volatile sig_atomic_t stop_requested = 0;
void RequestStop(int) { stop_requested = 1; }

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Target {
  std::string name;
  sockaddr_in address{};
  std::vector<double> rtts_ms;
  uint64_t sent = 0;
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t at = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[at];
}

nlohmann::json Summary(const std::vector<double>& rtts, uint64_t sent) {
  return {{"sent", sent},
          {"answered", rtts.size()},
          {"lost", sent - rtts.size()},
          {"p50_ms", Percentile(rtts, 0.50)},
          {"p99_ms", Percentile(rtts, 0.99)},
          {"p999_ms", Percentile(rtts, 0.999)},
          {"max_ms", rtts.empty() ? 0 : *std::max_element(rtts.begin(), rtts.end())}};
}

}  // namespace

// The floor: a UDP echo on 127.0.0.1:port until SIGTERM.
int Echo(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return 1;
  char buffer[64];
  while (!stop_requested) {
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, 100) <= 0) continue;
    sockaddr_in from{};
    socklen_t length = sizeof from;
    const ssize_t n =
        ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
    if (n > 0) {
      ::sendto(fd, buffer, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), length);
    }
  }
  ::close(fd);
  return 0;
}

int main(int argc, char** argv) {
  ::signal(SIGTERM, RequestStop);
  ::signal(SIGINT, RequestStop);
  if (argc == 3 && std::string(argv[1]) == "--echo") {
    return Echo(static_cast<uint16_t>(std::stoi(argv[2])));
  }
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s KEY_FILE SECONDS INTERVAL_MS name=host:port [name=host:port ...]\n",
                 argv[0]);
    return 2;
  }
  std::ifstream key_file(argv[1]);
  std::stringstream key_text;
  key_text << key_file.rdbuf();
  auto keyring = starling::net::Keyring::Parse(key_text.str());
  if (!keyring.ok()) {
    std::fprintf(stderr, "%s\n", keyring.status().ToString().c_str());
    return 2;
  }
  starling::net::Sealer sealer(std::move(*keyring), 60000, starling::gossip::kMaxDatagramBytes);
  const double seconds = std::stod(argv[2]);
  const auto interval = std::chrono::milliseconds(std::stoi(argv[3]));
  std::vector<Target> targets;
  for (int i = 4; i < argc; ++i) {
    const std::string spec = argv[i];
    const auto eq = spec.find('='), colon = spec.rfind(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq) {
      std::fprintf(stderr, "bad target %s (name=host:port)\n", spec.c_str());
      return 2;
    }
    Target target;
    target.name = spec.substr(0, eq);
    target.address.sin_family = AF_INET;
    target.address.sin_port = htons(static_cast<uint16_t>(std::stoi(spec.substr(colon + 1))));
    if (::inet_pton(AF_INET, spec.substr(eq + 1, colon - eq - 1).c_str(),
                    &target.address.sin_addr) != 1) {
      std::fprintf(stderr, "bad address in %s\n", spec.c_str());
      return 2;
    }
    targets.push_back(std::move(target));
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof local;
  ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  const starling::gossip::Address self{"127.0.0.1", ntohs(local.sin_port)};

  std::map<uint32_t, std::pair<size_t, Clock::time_point>> outstanding;  // seq → target, sent at
  uint32_t next_seq = 1;
  size_t next_target = 0;
  auto end = Clock::now() +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto next_send = Clock::now();
  const auto started = next_send;
  // STARLING_PROBE_DUMP=FILE: every answered probe as "sent_s target rtt_ms", for a closer look.
  const char* dump_path = std::getenv("STARLING_PROBE_DUMP");
  FILE* dump = dump_path != nullptr ? std::fopen(dump_path, "w") : nullptr;
  std::vector<char> buffer(65536);
  // Sends until `end`, then waits up to 2 s more for the last answers.
  while (Clock::now() < end + std::chrono::seconds(2)) {
    const auto now = Clock::now();
    if (stop_requested && end > now) end = now;
    if (now < end && now >= next_send) {
      Target& target = targets[next_target];
      next_target = (next_target + 1) % targets.size();
      const uint32_t seq = next_seq++;
      std::string sealed;
      if (target.name == "echo") {
        sealed = std::string(8, '\0');
        std::memcpy(sealed.data(), &seq, sizeof seq);
      } else {
        std::string datagram;
        starling::gossip::AppendItem(&datagram, starling::gossip::EncodeHeader(kProber));
        starling::gossip::AppendItem(
            &datagram, starling::gossip::EncodeMessage(Ping{seq, target.name, kProber, self}));
        // Sealed for its recipient, as agents seal theirs (src/net/sealer.h).
        const std::string to = "127.0.0.1:" + std::to_string(ntohs(target.address.sin_port));
        sealed = sealer.Seal(starling::net::Channel::kDatagram, datagram, WallMs(), to);
      }
      ::sendto(fd, sealed.data(), sealed.size(), 0,
               reinterpret_cast<const sockaddr*>(&target.address), sizeof target.address);
      ++target.sent;
      outstanding[seq] = {static_cast<size_t>(&target - targets.data()), Clock::now()};
      next_send += interval / static_cast<int>(targets.size());
      if (next_send < now) next_send = now;  // behind (a stall here): no burst to catch up
    }
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_send - Clock::now());
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 50))) <= 0) {
      continue;
    }
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    const auto received = Clock::now();
    if (n <= 0) continue;
    std::vector<uint32_t> acked;
    if (n == 8) {  // the echo's answer
      uint32_t seq = 0;
      std::memcpy(&seq, buffer.data(), sizeof seq);
      acked.push_back(seq);
    } else {
      auto plain = sealer.Open(starling::net::Channel::kDatagram,
                               std::string_view(buffer.data(), static_cast<size_t>(n)), WallMs(),
                               {self.ToString()});
      auto decoded = plain.ok() ? starling::gossip::DecodeDatagram(*plain)
                                : Result<starling::gossip::Datagram>(plain.status());
      if (decoded.ok()) {
        for (const auto& message : decoded->messages) {
          if (std::holds_alternative<Ack>(message)) acked.push_back(std::get<Ack>(message).seq);
        }
      }
    }
    for (const uint32_t seq : acked) {
      auto it = outstanding.find(seq);
      if (it == outstanding.end()) continue;
      const double rtt =
          std::chrono::duration<double, std::milli>(received - it->second.second).count();
      targets[it->second.first].rtts_ms.push_back(rtt);
      if (dump != nullptr) {
        std::fprintf(dump, "%.3f %s %.3f\n",
                     std::chrono::duration<double>(it->second.second - started).count(),
                     targets[it->second.first].name.c_str(), rtt);
      }
      outstanding.erase(it);
    }
  }
  ::close(fd);
  if (dump != nullptr) std::fclose(dump);
  nlohmann::json out = nlohmann::json::object();
  std::vector<double> all;
  uint64_t sent = 0;
  for (const Target& target : targets) {
    out["targets"][target.name] = Summary(target.rtts_ms, target.sent);
    if (target.name == "echo") continue;  // the floor, apart
    all.insert(all.end(), target.rtts_ms.begin(), target.rtts_ms.end());
    sent += target.sent;
  }
  out["all"] = Summary(all, sent);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
