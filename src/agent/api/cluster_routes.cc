// The cluster: its members (/v1/members, /v1/self, join, leave, user events), node maintenance
// (/v1/drain), and the state log itself (/v1/log/status, the operators' /v1/kv space).
#include "src/agent/api/context.h"
#include "src/agent/membership.h"
#include "src/state/keys.h"

namespace starling::agent::api {
namespace {

Json MembersJson(const Context& c) {
  const gossip::Swim& core = c.membership->core();
  const Instant now = c.membership->Now();
  Json members = Json::array();
  for (const gossip::Member* member : core.SortedMembers()) {
    const gossip::NodeMeta& meta = member->meta();
    Json entry = {{"name", member->name()},
                  {"address", member->address().ToString()},
                  {"status", gossip::MemberStatusName(member->status)},
                  {"incarnation", member->incarnation},
                  {"role", gossip::RoleName(meta.role)},
                  {"capacity", meta.capacity},
                  {"db", meta.database},
                  {"api", meta.api_address},
                  {"version", meta.version},
                  {"status_age_s", ToSeconds(now - member->status_since)}};
    if (const auto* load = core.LoadOf(member->name())) {
      entry["load"] = {{"version", load->version},
                       {"load1", load->load1},
                       {"cpu_count", load->cpu_count},
                       {"free_slots", load->free_slots}};
    } else {
      entry["load"] = nullptr;
    }
    members.push_back(std::move(entry));
  }
  return {{"self", c.config.node_name}, {"members", members}};
}

Json LogStatusJson(const store::Replica& log) {
  Json heads = Json::object(), floors = Json::object(), peers = Json::array();
  for (const auto& [origin, head] : log.heads()) heads[origin] = head;
  for (const auto& [origin, floor] : log.floors()) floors[origin] = floor;
  for (const auto& peer : log.live_peers()) {
    const bool known = log.peer_digests().contains(peer);
    peers.push_back({{"name", peer}, {"lag", known ? Json(log.LagOf(peer)) : Json(nullptr)}});
  }
  const auto& st = log.stats();
  return {{"origin", log.origin()},
          {"clock", log.clock()},
          {"heads", heads},
          {"floors", floors},
          {"peers", peers},
          {"stats",
           {{"writes", st.writes},
            {"applied", st.applied},
            {"duplicates", st.duplicates},
            {"out_of_order", st.out_of_order},
            {"requests_sent", st.requests_sent},
            {"requests_served", st.requests_served},
            {"snapshots_served", st.snapshots_served},
            {"snapshots_received", st.snapshots_received},
            {"compacted", st.compacted},
            {"rejected", st.rejected},
            {"storage_errors", st.storage_errors}}}};
}

// Draining a node: the rules move its copies away (make-before-break) and place none on it
// until it is undrained ("drain/<node>" in the state log).
Result<Json> Drain(const Context& c, const Request& request, bool on) {
  auto options = WriteParams(request);
  if (!options.ok()) return options.status();
  const std::string node = request.Match(1);
  if (!IsValidName(node)) {
    return Status::InvalidArgument("a node name is 1-64 characters of [A-Za-z0-9._-]");
  }
  if (on) {
    auto known =
        c.OnIo([&c, node] { return Json(c.membership->core().FindMember(node) != nullptr); });
    if (!known.ok()) return known.status();
    if (!known->get<bool>()) return Status::NotFound("no member '" + node + "'");
  }
  return WriteAnswer(c, *options, {{keys::Drain(node), on ? "1" : "", !on}},
                     {{"node", node}, {"draining", on}});
}

}  // namespace

std::vector<Route> ClusterRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/members", kRead,
       [c](const Request&) { return c->OnIo([c] { return MembersJson(*c); }); }},
      {Method::kGet, "/v1/self", kRead,
       [c](const Request&) {
         return c->OnIo([c] {
           const gossip::Swim& core = c->membership->core();
           return Json{{"name", c->config.node_name},
                       {"incarnation", core.incarnation()},
                       {"health_score", core.health_score()},
                       {"alive", core.AliveCount()}};
         });
       }},
      {Method::kPost, "/v1/join", kAdminOnly,
       [c](const Request& request) -> Result<Json> {
         const Json& addresses = request.body.value("addresses", Json());
         if (!addresses.is_array() || addresses.empty()) {
           return Status::InvalidArgument("addresses must be a non-empty array");
         }
         std::vector<std::string> seeds;
         for (const auto& item : addresses) {
           if (!item.is_string()) return Status::InvalidArgument("addresses are strings");
           auto parsed = ParseHostPort(item.get<std::string>(), "address");
           if (!parsed.ok()) return parsed.status();
           seeds.push_back(parsed->ToString());
         }
         return c->OnIo([c, seeds] {
           c->membership->Join(seeds);
           return Json{{"joining", seeds}};
         });
       },
       BodyKind::kJson},
      {Method::kPost, "/v1/leave", kAdminOnly,
       [c](const Request&) {
         return c->OnIo([c] {
           c->leave();
           return Json{{"leaving", c->config.node_name}};
         });
       }},
      {Method::kPost, "/v1/event", kOperate,
       [c](const Request& request) -> Result<Json> {
         const std::string name = request.body.value("name", "");
         const std::string payload = request.body.value("payload", "");
         if (name.starts_with("starling.")) {
           return Status::InvalidArgument("event names starting with 'starling.' are reserved");
         }
         return c->OnIo([c, name, payload]() -> Result<Json> {
           if (Status s = c->membership->SendUserEvent(name, payload); !s.ok()) {
             return Status::InvalidArgument(s.message());
           }
           return Json{{"sent", name}};
         });
       },
       BodyKind::kJson},
      {Method::kPut, R"(/v1/drain/([^/]+))", kOperate,
       [c](const Request& request) { return Drain(*c, request, true); }},
      {Method::kDelete, R"(/v1/drain/([^/]+))", kOperate,
       [c](const Request& request) { return Drain(*c, request, false); }},
      // A small key-value space on the state log, for operators and scripts.
      {Method::kPut, R"(/v1/kv/(.+))", kOperate,
       [c](const Request& request) -> Result<Json> {
         auto options = WriteParams(request);
         if (!options.ok()) return options.status();
         const std::string key = request.Match(1);
         return WriteAnswer(*c, *options, {{keys::Kv(key), request.raw}}, {{"key", key}});
       },
       BodyKind::kRaw},
      {Method::kGet, R"(/v1/kv/(.+))", kRead,
       [c](const Request& request) -> Result<Json> {
         const std::string key = request.Match(1);
         auto entry = c->log->Get(keys::Kv(key));
         if (!entry.ok()) return entry.status();
         if (!entry->has_value() || (*entry)->tombstone) {
           return Status::NotFound("no key '" + key + "'");
         }
         return Json{{"key", key}, {"value", (*entry)->value}};
       }},
      {Method::kGet, "/v1/log/status", kRead,
       [c](const Request&) -> Result<Json> {
         auto status = c->log->Query([](const store::Replica& log) { return LogStatusJson(log); });
         if (!status) return Status::Unavailable("the state log did not answer in time");
         // Outside the log's thread: the size on disk asks RocksDB, which any thread may.
         (*status)["size_on_disk_bytes"] = c->log->SizeOnDisk();
         return *status;
       }},
  };
}

}  // namespace starling::agent::api
