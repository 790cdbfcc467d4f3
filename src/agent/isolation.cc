#include "src/agent/isolation.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace starling::agent {
namespace {

constexpr Duration kCheckEvery = Seconds(10);

std::vector<std::string> Sorted(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  return items;
}

}  // namespace

std::unique_ptr<Isolation> Isolation::Start(std::unique_ptr<copies::Firewall> firewall,
                                            copies::FirewallSpec spec) {
  spec.members = Sorted(std::move(spec.members));
  const Status applied = firewall->Apply(spec);
  std::unique_ptr<Isolation> isolation(new Isolation(std::move(firewall), std::move(spec)));
  isolation->applies_ = 1;
  if (!applied.ok()) {
    // Copies wait; each Update tries again (nft may have been busy, or a rule refused for now).
    spdlog::error("copies will not start until their firewall stands: {}", applied.ToString());
    isolation->failures_ = 1;
    isolation->state_ = applied;
  }
  return isolation;
}

Isolation::~Isolation() { Stop(); }

void Isolation::Update(std::vector<std::string> members, Instant now) {
  members = Sorted(std::move(members));
  std::lock_guard lock(mu_);
  if (stopped_ || busy_) return;  // (a call after the work under way sees what this one would)
  const bool changed = members != spec_.members;
  if (!changed && state_.ok() && now < next_check_) return;
  spec_.members = std::move(members);
  next_check_ = now + kCheckEvery;
  busy_ = true;
  // A change (or a retry after a failure) is applied at once; otherwise this is the check.
  const bool check_first = !changed && state_.ok();
  asio::post(thread_, [this, spec = spec_, check_first] { ApplyOnThread(spec, check_first); });
}

void Isolation::ApplyOnThread(copies::FirewallSpec spec, bool check_first) {
  Status applied = Status::Ok();
  bool ran = false;
  if (!check_first || !firewall_->Holds(spec)) {
    if (check_first) spdlog::warn("the copies' firewall was gone or stale: applying it again");
    applied = firewall_->Apply(spec);
    ran = true;
  }
  std::lock_guard lock(mu_);
  if (ran) {
    ++applies_;
    if (!applied.ok()) {
      ++failures_;
      spdlog::error("copies will not start: {}", applied.ToString());
    }
    state_ = applied;
  }
  busy_ = false;
}

Status Isolation::Ready() const {
  std::lock_guard lock(mu_);
  return state_;
}

void Isolation::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    state_ = Status::Unavailable("the agent is stopping: the copies' firewall is being removed");
  }
  thread_.join();
  if (Status s = firewall_->Remove(spec_.table); !s.ok()) {
    spdlog::warn("could not remove the copies' firewall: {}", s.ToString());
  }
}

nlohmann::json Isolation::Json() const {
  std::lock_guard lock(mu_);
  return {{"mode", "nftables"},
          {"table", spec_.table},
          {"members_blocked", spec_.members.size()},
          {"applies", applies_},
          {"failures", failures_},
          {"ready", state_.ok()},
          {"error", state_.ok() ? "" : state_.message()}};
}

}  // namespace starling::agent
