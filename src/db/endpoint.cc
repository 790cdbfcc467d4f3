#include "src/db/endpoint.h"

#include <fmt/format.h>

#include <set>

namespace starling::db {

std::string SlotName(uint32_t slot) { return fmt::format("s{}", slot); }

std::string RenderEndpointConfig(const EndpointOptions& options) {
  return fmt::format(
      "# Written by the Starling agent: the database endpoint of this node's copies.\n"
      "global\n"
      "  stats socket {admin} mode 600 level admin\n"
      "  maxconn {maxconn}\n"
      "defaults\n"
      "  mode tcp\n"
      "  timeout connect 2s\n"
      "  timeout client 1h\n"
      "  timeout server 1h\n"
      "frontend mysql\n"
      "  bind {host}:{port}\n"
      "  default_backend {backend}\n"
      "backend {backend}\n"
      "  server-template s 1-{slots} 127.0.0.1:9 disabled\n",
      fmt::arg("admin", options.admin_socket), fmt::arg("maxconn", options.max_connections),
      fmt::arg("host", options.listen_host), fmt::arg("port", options.listen_port),
      fmt::arg("backend", kBackend), fmt::arg("slots", options.slots));
}

EndpointPlan PlanEndpoint(const EndpointState& current, const std::vector<DbServer>& servers,
                          const std::string& writer, uint32_t slots) {
  EndpointPlan plan;
  auto server = [](uint32_t slot) { return fmt::format("{}/{}", kBackend, SlotName(slot)); };
  std::map<std::string, const DbServer*> wanted;
  for (const auto& db : servers) wanted[db.name] = &db;

  // Slots whose node is still listed keep it (its address may have changed).
  std::set<uint32_t> freed;
  for (const auto& [slot, db] : current.slots) {
    auto it = wanted.find(db.name);
    if (it == wanted.end()) {
      freed.insert(slot);
      continue;
    }
    plan.next.slots[slot] = *it->second;
    if (!(db == *it->second)) {
      plan.commands.push_back(fmt::format("set server {} addr {} port {}", server(slot),
                                          it->second->host, it->second->port));
    }
  }
  // New nodes take the lowest free slots.
  std::set<std::string> placed;
  for (const auto& [slot, db] : plan.next.slots) placed.insert(db.name);
  uint32_t candidate = 1;
  for (const auto& [name, db] : wanted) {
    if (placed.contains(name)) continue;
    // A slot freed in this plan is not reused until the next: its connections are shut first.
    while (candidate <= slots &&
           (plan.next.slots.contains(candidate) || freed.contains(candidate))) {
      ++candidate;
    }
    if (candidate > slots) {
      plan.unplaced.push_back(name);
      continue;
    }
    plan.next.slots[candidate] = *db;
    plan.commands.push_back(
        fmt::format("set server {} addr {} port {}", server(candidate), db->host, db->port));
  }

  // The writer: enabled first, then every other slot in maintenance, the old writer's
  // connections shut last.
  for (const auto& [slot, db] : plan.next.slots) {
    if (db.name == writer) plan.next.writer_slot = slot;
  }
  const uint32_t old_writer = current.writer_slot;
  if (plan.next.writer_slot != 0) {
    plan.commands.push_back(
        fmt::format("set server {} state ready", server(plan.next.writer_slot)));
  }
  if (old_writer != 0 && old_writer != plan.next.writer_slot) {
    plan.commands.push_back(fmt::format("set server {} state maint", server(old_writer)));
    plan.commands.push_back(fmt::format("shutdown sessions server {}", server(old_writer)));
  }
  for (uint32_t slot : freed) {
    if (slot == old_writer) continue;  // done above
    plan.commands.push_back(fmt::format("set server {} state maint", server(slot)));
  }
  return plan;
}

}  // namespace starling::db
