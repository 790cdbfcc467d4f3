// src/db/endpoint.h — the local endpoint copies reach the database through (DESIGN.md §10):
// HAProxy in TCP mode, listening where the node's copies may connect, with a fixed set of server
// slots the agent points at the db nodes and switches over its runtime API — one slot enabled,
// the writer's; the others in maintenance — so a writer change is a few commands, never a
// reload, and connections to the old writer are shut (clients reconnect to the new one).
// HAProxy runs no health checks of its own: the agents decide who the writer is
// (src/rules/db_cluster.h) from the health each db node publishes. Pure: text in, text out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace starling::db {

struct EndpointOptions {
  std::string listen_host = "127.0.0.1";  // where copies connect
  uint16_t listen_port = 3307;
  std::string admin_socket;  // HAProxy's runtime API (0600; the agent's alone)
  uint32_t slots = 16;       // db nodes it can point at without a reload
  uint32_t max_connections = 4000;
};

// The configuration file (HAProxy runs in the foreground, the agent's child). REQUIRES:
// admin_socket absolute, slots 1-256.
std::string RenderEndpointConfig(const EndpointOptions& options);

// The backend and the servers' names in it: "db/s1" .. "db/s<slots>".
inline constexpr char kBackend[] = "db";
std::string SlotName(uint32_t slot);

struct DbServer {
  std::string name;  // the db node
  std::string host;  // where its mariadbd listens
  uint16_t port = 0;
  bool operator==(const DbServer&) const = default;
};

// What the endpoint is pointed at: slot → server, and the writer's slot (0: none).
struct EndpointState {
  std::map<uint32_t, DbServer> slots;
  uint32_t writer_slot = 0;
};

struct EndpointPlan {
  EndpointState next;
  std::vector<std::string> commands;  // runtime API commands, in order
  std::vector<std::string> unplaced;  // db nodes that found no free slot (reload needed)
};

// The commands that take the endpoint from `current` to `servers` with `writer` (a name among
// them, or empty: nobody takes connections). A db node keeps its slot while it is listed; a new
// one takes the lowest free slot (not one freed by this same plan); a slot whose node went is put
// in maintenance and freed. The
// new writer is enabled before the old one is disabled and its connections shut, so new
// connections never find no server while a writer exists.
EndpointPlan PlanEndpoint(const EndpointState& current, const std::vector<DbServer>& servers,
                          const std::string& writer, uint32_t slots);

}  // namespace starling::db
