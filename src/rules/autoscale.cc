#include "src/rules/autoscale.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace starling::rules {

Status AutoscaleOptions::Validate() const {
  for (Duration d : {up_window, down_window, up_cooldown, down_cooldown}) {
    if (d < Duration::zero() || d > Seconds(3600)) {
      return Status::InvalidArgument("autoscale windows and cooldowns must be 0..3600 s");
    }
  }
  return Status::Ok();
}

namespace {

bool Elapsed(Instant since, Instant now, Duration window) {
  return since != kInstantMax && now - since >= window;
}

}  // namespace

ScaleDecision Autoscaler::Round(Instant now, const SiteLoad& site) {
  ScaleDecision decision{.desired = site.desired};
  auto step = [&](uint32_t to, std::string reason) {
    decision.desired = to;
    decision.changed = true;
    decision.reason = std::move(reason);
    last_step_ = now;
    above_since_ = below_since_ = kInstantMax;
  };
  if (site.desired < site.min) {
    step(site.min, fmt::format("below the minimum of {}", site.min));
    return decision;
  }
  if (site.desired > site.max) {
    step(site.max, fmt::format("above the maximum of {}", site.max));
    return decision;
  }
  const size_t n = site.loads.size();
  if (n == 0) {  // nothing serving yet: nothing to judge
    above_since_ = below_since_ = kInstantMax;
    return decision;
  }
  const double sum = std::accumulate(site.loads.begin(), site.loads.end(), 0.0);
  const double mean = sum / static_cast<double>(n);
  const double highest = *std::max_element(site.loads.begin(), site.loads.end());

  const bool above = mean >= site.up;
  // A step down leaves desired - 1 copies to carry the whole load (extra copies that are about
  // to go, e.g. after a partition healed, carry part of it now but will not): only if that stays
  // clear of `up`.
  const double midpoint = (site.up + site.down) / 2;
  // Not while copies are missing: the loads in view then lack the missing copies' share.
  const bool below = highest < site.down && site.desired > 1 && n >= site.desired &&
                     sum / static_cast<double>(site.desired - 1) < midpoint;
  if (!above) above_since_ = kInstantMax;
  if (!below) below_since_ = kInstantMax;
  if (above && above_since_ == kInstantMax) above_since_ = now;
  if (below && below_since_ == kInstantMax) below_since_ = now;

  auto cooled = [&](Duration cooldown) {
    return last_step_ == Instant::min() || now - last_step_ >= cooldown;
  };
  if (above && site.desired < site.max && n >= site.desired &&
      Elapsed(above_since_, now, options_.up_window) && cooled(options_.up_cooldown)) {
    step(site.desired + 1, fmt::format("mean load {:.2f} of {} serving >= {:.2f} for {:.0f} s",
                                       mean, n, site.up, ToSeconds(now - above_since_)));
  } else if (below && site.desired > site.min && Elapsed(below_since_, now, options_.down_window) &&
             cooled(options_.down_cooldown)) {
    step(site.desired - 1, fmt::format("every copy's load < {:.2f} (highest {:.2f}) for {:.0f} s",
                                       site.down, highest, ToSeconds(now - below_since_)));
  }
  return decision;
}

}  // namespace starling::rules
