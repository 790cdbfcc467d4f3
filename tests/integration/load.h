// tests/integration/load.h — a client that GETs one path of a site through a balancer without
// pause (bounded: 5 minutes, 300,000 requests), counting each answer's body and every failure:
// an error, a status other than 200, or a body other than the expected one when one is given.
#pragma once

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace starling::testing {

class GetLoad {
 public:
  GetLoad(uint16_t port, std::string host, std::string path,
          std::optional<std::string> expected = std::nullopt)
      : port_(port),
        host_(std::move(host)),
        path_(std::move(path)),
        expected_(std::move(expected)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~GetLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Answers by body since the last Reset, and failures since ResetFailures.
  std::map<std::string, int> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  void Reset() {
    std::lock_guard lock(mutex_);
    bodies_.clear();
  }
  // Failures are counted from here (before, the balancer may not know the site yet).
  void ResetFailures() {
    std::lock_guard lock(mutex_);
    failed_ = 0;
    failures_.clear();
  }
  int requests() const { return requests_; }
  int failed() const { return failed_; }
  std::string failures() {
    std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  void Run() {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(5, 0);
    const auto end = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (!stop_ && std::chrono::steady_clock::now() < end && requests_ < 300000) {
      auto response = client.Get(path_, {{"Host", host_}});
      ++requests_;
      std::lock_guard lock(mutex_);
      if (!response || response->status != 200 || (expected_ && response->body != *expected_)) {
        ++failed_;
        if (failures_.size() < 2000) {
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() %
                          100000;
          failures_ +=
              fmt::format("{:05.3f} s: {}\n", ms / 1000.0,
                          response ? std::to_string(response->status) + " " + response->body
                                   : httplib::to_string(response.error()));
        }
        continue;
      }
      ++bodies_[response->body];
    }
  }

  uint16_t port_;
  std::string host_, path_;
  std::optional<std::string> expected_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0}, failed_{0};
  std::mutex mutex_;
  std::map<std::string, int> bodies_;
  std::string failures_;
  std::thread thread_;
};

}  // namespace starling::testing
