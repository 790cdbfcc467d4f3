// src/agent/isolation.h — keeps the copies' firewall (src/copies/firewall.h) in step with the
// cluster: applied before the first copy starts, again whenever the members' addresses change,
// and checked every 10 s (an operator's `nft flush ruleset`, or a firewall manager reloading,
// must not leave copies open for longer). A copy starts only while the rules stand. nft runs on
// a thread of its own; the io thread only posts to it and reads the outcome.
#pragma once

#include <asio.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "src/copies/firewall.h"

namespace starling::agent {

class Isolation {
 public:
  // Applies `spec` once, blocking (the agent's start). If nft refuses, copies wait (Ready says
  // why) and each Update tries again.
  static std::unique_ptr<Isolation> Start(std::unique_ptr<copies::Firewall> firewall,
                                          copies::FirewallSpec spec);
  ~Isolation();

  // io thread: the cluster members' addresses now. Re-applies (off this thread) when they
  // changed, or when the periodic check finds the rules gone.
  void Update(std::vector<std::string> members, Instant now);
  // Any thread: Ok while the rules stand, else why a copy may not start.
  Status Ready() const;
  // Removes the rules (the agent stops). Blocking.
  void Stop();
  nlohmann::json Json() const;

 private:
  Isolation(std::unique_ptr<copies::Firewall> firewall, copies::FirewallSpec spec)
      : firewall_(std::move(firewall)), spec_(std::move(spec)) {}
  void ApplyOnThread(copies::FirewallSpec spec, bool check_first);

  std::unique_ptr<copies::Firewall> firewall_;  // used on thread_ only (after Start)
  asio::thread_pool thread_{1};

  mutable std::mutex mu_;
  copies::FirewallSpec spec_;  // the last wanted; guarded by mu_
  Status state_;               // guarded by mu_
  uint64_t applies_ = 0;       // guarded by mu_
  uint64_t failures_ = 0;      // guarded by mu_
  bool stopped_ = false;       // guarded by mu_
  bool busy_ = false;          // work posted to thread_; guarded by mu_
  Instant next_check_{};       // guarded by mu_
};

}  // namespace starling::agent
