// /metrics: the node's figures in Prometheus' text format (membership, the sealer, the stream
// transport, the state log, images).
#include "src/agent/api/context.h"
#include "src/agent/images.h"
#include "src/agent/membership.h"
#include "src/agent/metrics.h"

namespace starling::agent::api {
namespace {

// On the io thread: the membership core, the sealer, the transport and images live there.
std::string Metrics(const Context& c) {
  const gossip::Swim& core = c.membership->core();
  const auto& s = core.stats();
  const auto& k = c.sealer->stats();
  size_t counts[4] = {0, 0, 0, 0};
  for (const gossip::Member* member : core.members()) ++counts[static_cast<int>(member->status)];
  std::string out;
  auto line = [&out](std::string_view name, std::string_view labels, uint64_t value) {
    AppendMetric(&out, name, labels, value);
  };
  out += "# TYPE starling_members gauge\n";
  for (int i = 0; i < 4; ++i) {
    line("starling_members",
         "status=\"" + std::string(gossip::MemberStatusName(static_cast<gossip::MemberStatus>(i))) +
             "\"",
         counts[i]);
  }
  out += "# TYPE starling_health_score gauge\n";
  line("starling_health_score", "", static_cast<uint64_t>(core.health_score()));
  out += "# TYPE starling_gossip_datagrams_total counter\n";
  line("starling_gossip_datagrams_total", "direction=\"received\"", s.datagrams_received);
  line("starling_gossip_datagrams_total", "direction=\"sent\"", s.datagrams_sent);
  line("starling_gossip_datagrams_total", "direction=\"undecodable\"", s.datagrams_rejected);
  out += "# TYPE starling_gossip_bytes_sent_total counter\n";
  line("starling_gossip_bytes_sent_total", "channel=\"udp\"", s.bytes_sent);
  line("starling_gossip_bytes_sent_total", "channel=\"tcp\"", s.stream_bytes_sent);
  out += "# TYPE starling_gossip_probes_total counter\n";
  line("starling_gossip_probes_total", "result=\"sent\"", s.probes);
  line("starling_gossip_probes_total", "result=\"failed\"", s.probes_failed);
  out += "# TYPE starling_gossip_suspicions_total counter\n";
  line("starling_gossip_suspicions_total", "", s.suspicions_raised);
  out += "# TYPE starling_sealed_rejected_total counter\n";
  line("starling_sealed_rejected_total", "reason=\"short\"", k.rejected_short);
  line("starling_sealed_rejected_total", "reason=\"oversize\"", k.rejected_oversize);
  line("starling_sealed_rejected_total", "reason=\"format\"", k.rejected_format);
  line("starling_sealed_rejected_total", "reason=\"auth\"", k.rejected_auth);
  line("starling_sealed_rejected_total", "reason=\"stale\"", k.rejected_stale);
  line("starling_sealed_rejected_total", "reason=\"replay\"", k.rejected_replay);
  const TransportStats t = c.transport->stats();
  out += "# TYPE starling_transport_requests_total counter\n";
  line("starling_transport_requests_total", "kind=\"sent\"", t.requests);
  line("starling_transport_requests_total", "kind=\"reused\"", t.reused);
  line("starling_transport_requests_total", "kind=\"failed\"", t.failed);
  line("starling_transport_requests_total", "kind=\"served\"", t.served);
  line("starling_transport_requests_total", "kind=\"rejected\"", t.rejected);
  out += "# TYPE starling_transport_refused_total counter\n";
  line("starling_transport_refused_total", "reason=\"limit\"", t.refused);
  line("starling_transport_refused_total", "reason=\"hello\"", t.rejected_hello);
  out += "# TYPE starling_transport_connects_total counter\n";
  line("starling_transport_connects_total", "", t.connects);
  out += "# TYPE starling_transport_connections gauge\n";
  line("starling_transport_connections", "kind=\"inbound\"", static_cast<uint64_t>(t.inbound_open));
  line("starling_transport_connections", "kind=\"pooled\"", t.idle_pooled);
  const store::ReplicaStats l = c.log->stats();
  out += "# TYPE starling_log_entries_total counter\n";
  line("starling_log_entries_total", "kind=\"written\"", l.writes);
  line("starling_log_entries_total", "kind=\"applied\"", l.applied);
  line("starling_log_entries_total", "kind=\"duplicate\"", l.duplicates);
  line("starling_log_entries_total", "kind=\"compacted\"", l.compacted);
  out += "# TYPE starling_log_exchanges_total counter\n";
  line("starling_log_exchanges_total", "direction=\"sent\"", l.requests_sent);
  line("starling_log_exchanges_total", "direction=\"served\"", l.requests_served);
  line("starling_log_exchanges_total", "direction=\"undecodable\"", l.rejected);
  out += "# TYPE starling_log_snapshots_total counter\n";
  line("starling_log_snapshots_total", "direction=\"served\"", l.snapshots_served);
  line("starling_log_snapshots_total", "direction=\"received\"", l.snapshots_received);
  out += "# TYPE starling_log_storage_errors_total counter\n";
  line("starling_log_storage_errors_total", "", l.storage_errors);
  out += c.images->Metrics();
  return out;
}

}  // namespace

std::vector<Route> MetricRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/metrics", kRead,
       [c](const Request&) { return c->OnIo([c] { return Json(Metrics(*c)); }); }, BodyKind::kNone,
       /*text=*/true},
  };
}

}  // namespace starling::agent::api
