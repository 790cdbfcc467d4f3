// src/balancer/keepalived.h — the shared address of a balancer pair (DESIGN.md §9): the
// keepalived configuration a balancer node writes for itself. VRRP version 3 over unicast to the
// other balancers (no multicast needed), `nopreempt` (an address does not move back and forth
// when a balancer returns), a track script that fails when nginx does not run, and the advert
// interval that sets how fast the address moves (master down ≈ 3 × advert + skew).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace starling::balancer {

struct VrrpOptions {
  std::string node;                // this balancer (router_id)
  std::string interface;           // where the address lives, e.g. "eth0"
  std::string address;             // this balancer's own IP on that interface (unicast source)
  std::vector<std::string> peers;  // the other balancers' IPs on it (none: multicast)
  std::string virtual_address;     // the shared address with its prefix, e.g. "10.0.0.100/24"
  int router_id = 51;              // VRRP id, 1-255, the same on the pair
  int priority = 100;              // 1-254; the pair's ranks differ
  double advert_s = 0.5;           // VRRPv3 allows fractions; 0.5 s → failover in ~1.6 s
  std::string nginx_pid_file;      // the track script checks this nginx runs
};

// Whether every field is well formed (addresses are IPv4 or IPv6 literals, names are tame).
Status Validate(const VrrpOptions& options);

// keepalived.conf for `options` (call Validate first).
std::string RenderKeepalived(const VrrpOptions& options);

}  // namespace starling::balancer
