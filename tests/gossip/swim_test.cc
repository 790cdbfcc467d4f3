// [core] tests: two to five membership cores wired by hand, with explicit times and fixed seeds.
#include "gossip/swim.h"

#include <catch2/catch.hpp>
#include <deque>
#include <memory>

#include "gossip/codec.h"

namespace starling::gossip {
namespace {

// A tiny hand-driven network: datagrams arrive after `latency`; stream requests are answered at
// once. A node that is down refuses streams (its host is up, the process is gone); a muted node
// neither sends nor receives anything (a host cut off).
class Harness {
 public:
  struct Node {
    std::unique_ptr<Swim> core;
    Address address;
    bool up = true;
    bool muted = false;
    std::vector<MemberEvent> events;
  };

  explicit Harness(int n, SwimOptions options = SwimOptions()) : options_(options) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(Node{});
      nodes_.back().address = Address{"127.0.0." + std::to_string(i + 1), 7946};
      Boot(i, 1);
    }
    for (int i = 1; i < n; ++i)
      Step(i, [&](Outbox* out) { core(i).Join(now_, {nodes_[0].address}, out); });
  }

  Swim& core(int i) { return *nodes_[i].core; }
  Node& node(int i) { return nodes_[i]; }
  Instant now() const { return now_; }
  static std::string Name(int i) { return "node-" + std::to_string(i); }

  void Boot(int i, uint32_t incarnation) {
    NodeMeta meta{Role::kWorker, 4, "api", "test"};
    nodes_[i].core = std::make_unique<Swim>(options_, Name(i), nodes_[i].address, meta, incarnation,
                                            1000 + i, now_);
    nodes_[i].up = true;
  }

  template <typename F>
  void Step(int i, F&& f) {
    Outbox out;
    f(&out);
    Drain(i, &out);
  }

  void RunFor(Duration duration) {
    const Instant end = now_ + duration;
    for (int guard = 0; guard < 1000000; ++guard) {
      Instant next = end;
      if (!queue_.empty()) next = std::min(next, queue_.front().at);
      for (auto& n : nodes_) {
        if (n.up) next = std::min(next, n.core->NextWake());
      }
      if (next >= end && (queue_.empty() || queue_.front().at > end)) break;
      now_ = std::max(now_, next);
      while (!queue_.empty() && queue_.front().at <= now_) {
        Pending p = std::move(queue_.front());
        queue_.pop_front();
        Node& to = nodes_[p.to];
        if (!to.up || to.muted) continue;
        Step(p.to, [&](Outbox* out) {
          (void)to.core->OnDatagram(now_, nodes_[p.from].address, p.bytes, out);
        });
      }
      for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
        if (nodes_[i].up && nodes_[i].core->NextWake() <= now_) {
          Step(i, [&](Outbox* out) { core(i).Tick(now_, out); });
        }
      }
    }
    now_ = end;
  }

  MemberStatus StatusOf(int observer, int subject) {
    return core(observer).FindMember(Name(subject))->status;
  }

 private:
  struct Pending {
    Instant at;
    int from, to;
    std::string bytes;
  };

  int IndexOf(const Address& address) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].address == address) return static_cast<int>(i);
    }
    return -1;
  }

  void Drain(int from, Outbox* out) {
    for (auto& e : out->events) nodes_[from].events.push_back(e);
    std::vector<Outbox::Send> sends = std::move(out->datagrams);
    std::vector<StreamRequest> streams = std::move(out->streams);
    out->Clear();
    for (auto& send : sends) {
      const int to = IndexOf(send.to);
      if (to < 0 || nodes_[from].muted) continue;
      queue_.push_back({now_ + latency_, from, to, std::move(send.bytes)});
    }
    for (auto& request : streams) {
      const int to = IndexOf(request.to);
      if (to < 0) continue;
      Node& target = nodes_[to];
      if (nodes_[from].muted || target.muted) {
        Step(from, [&](Outbox* o) { core(from).OnStreamFailed(now_, request, o); });
      } else if (!target.up) {
        if (request.kind == StreamRequest::Kind::kProbe) {
          Step(from,
               [&](Outbox* o) { core(from).OnProbeRefused(now_, request.target, request.seq, o); });
        } else {
          Step(from, [&](Outbox* o) { core(from).OnStreamFailed(now_, request, o); });
        }
      } else if (request.kind == StreamRequest::Kind::kPushPull) {
        Result<std::string> reply = Status::Unavailable("");
        Step(to,
             [&](Outbox* o) { reply = target.core->OnPushPullRequest(now_, request.bytes, o); });
        REQUIRE(reply.ok());
        Step(from, [&](Outbox* o) { REQUIRE(core(from).OnPushPullReply(now_, *reply, o).ok()); });
      } else {
        auto reply = target.core->OnStreamPing(now_, request.bytes);
        if (reply.ok()) {
          Step(from, [&](Outbox* o) { (void)core(from).OnDatagram(now_, request.to, *reply, o); });
        }
      }
    }
  }

  SwimOptions options_;
  std::vector<Node> nodes_;
  std::deque<Pending> queue_;
  Instant now_{Seconds(1)};
  Duration latency_ = Milliseconds(1);
};

bool AllAlive(Harness& h, int n) {
  for (int i = 0; i < n; ++i) {
    if (!h.node(i).up) continue;
    for (int j = 0; j < n; ++j) {
      if (!h.node(j).up) continue;
      const Member* member = h.core(i).FindMember(Harness::Name(j));
      if (member == nullptr || member->status != MemberStatus::kAlive) return false;
    }
  }
  return true;
}

TEST_CASE("cores that join through one seed all see each other alive", "[core]") {
  Harness h(5);
  h.RunFor(Seconds(2));
  CHECK(AllAlive(h, 5));
  for (int i = 0; i < 5; ++i) CHECK(h.core(i).AliveCount() == 5);
}

TEST_CASE("a crashed process is declared dead by every other core", "[core]") {
  Harness h(5);
  h.RunFor(Seconds(2));
  REQUIRE(AllAlive(h, 5));
  h.node(3).up = false;
  h.RunFor(Seconds(3));
  for (int i : {0, 1, 2, 4}) CHECK(h.StatusOf(i, 3) == MemberStatus::kDead);
}

TEST_CASE("a vanished host is declared dead through suspicion alone", "[core]") {
  SwimOptions options;
  options.closed_port_evidence = false;
  Harness h(4, options);
  h.RunFor(Seconds(2));
  REQUIRE(AllAlive(h, 4));
  h.node(2).muted = true;
  h.RunFor(Seconds(2));
  // Suspected, but the Lifeguard timeout (>= 2 s here) has not run out yet.
  bool suspected = false;
  for (int i : {0, 1, 3}) suspected |= h.StatusOf(i, 2) == MemberStatus::kSuspect;
  CHECK(suspected);
  h.RunFor(Seconds(15));
  for (int i : {0, 1, 3}) CHECK(h.StatusOf(i, 2) == MemberStatus::kDead);
}

TEST_CASE("a member cut off briefly refutes the suspicion and is never declared dead", "[core]") {
  Harness h(5);
  h.RunFor(Seconds(2));
  h.node(1).muted = true;
  // Cut off until the first suspicion, then reconnected: it must hear of it and refute.
  bool suspected = false;
  for (int step = 0; step < 60 && !suspected; ++step) {
    h.RunFor(Milliseconds(50));
    for (int i : {0, 2, 3, 4}) suspected |= h.StatusOf(i, 1) == MemberStatus::kSuspect;
  }
  REQUIRE(suspected);
  h.node(1).muted = false;
  h.RunFor(Seconds(10));
  CHECK(AllAlive(h, 5));
  CHECK(h.core(1).incarnation() > 1);
  for (int i : {0, 2, 3, 4}) {
    for (const auto& e : h.node(i).events) {
      CHECK_FALSE((e.kind == MemberEvent::Kind::kDead && e.name == Harness::Name(1)));
    }
  }
}

TEST_CASE("a graceful leave is seen as left, not dead", "[core]") {
  Harness h(3);
  h.RunFor(Seconds(2));
  h.Step(2, [&](Outbox* out) { h.core(2).Leave(h.now(), out); });
  h.RunFor(Milliseconds(300));
  CHECK(h.core(2).LeaveDone(h.now()));
  h.node(2).up = false;
  h.RunFor(Seconds(5));
  CHECK(h.StatusOf(0, 2) == MemberStatus::kLeft);
  CHECK(h.StatusOf(1, 2) == MemberStatus::kLeft);
}

TEST_CASE("a restarted node comes back alive with a higher incarnation", "[core]") {
  Harness h(3);
  h.RunFor(Seconds(2));
  h.node(1).up = false;
  h.RunFor(Seconds(4));
  REQUIRE(h.StatusOf(0, 1) == MemberStatus::kDead);
  h.Boot(1, 2);
  h.Step(1, [&](Outbox* out) { h.core(1).Join(h.now(), {h.node(0).address}, out); });
  h.RunFor(Seconds(2));
  CHECK(AllAlive(h, 3));
  CHECK(h.core(0).FindMember("node-1")->incarnation == 2);
}

TEST_CASE("new metadata reaches every core under a higher incarnation", "[core]") {
  Harness h(4);
  h.RunFor(Seconds(2));
  REQUIRE(AllAlive(h, 4));
  const uint32_t before = h.core(0).FindMember("node-3")->incarnation;
  h.Step(3, [&](Outbox* out) {
    h.core(3).UpdateMeta(h.now(), NodeMeta{Role::kBalancer, 2, "127.0.0.4:8080", "next"}, out);
  });
  h.RunFor(Seconds(2));
  for (int i = 0; i < 4; ++i) {
    const Member* member = h.core(i).FindMember("node-3");
    REQUIRE(member != nullptr);
    CHECK(member->incarnation == before + 1);
    CHECK(member->meta().role == Role::kBalancer);
    CHECK(member->meta().api_address == "127.0.0.4:8080");
    CHECK(member->name() == "node-3");
  }
  bool updated = false;
  for (const auto& e : h.node(0).events) {
    updated |= e.kind == MemberEvent::Kind::kUpdated && e.name == "node-3";
  }
  CHECK(updated);
  CHECK(h.core(0).SortedMembers().size() == 4);
  CHECK(h.core(0).SortedMembers()[3]->name() == "node-3");
}

TEST_CASE("a user event reaches every core exactly once", "[core]") {
  Harness h(5);
  h.RunFor(Seconds(2));
  h.Step(4,
         [&](Outbox* out) { REQUIRE(h.core(4).SendUserEvent(h.now(), "deploy", "v2", out).ok()); });
  h.RunFor(Seconds(3));
  for (int i = 0; i < 5; ++i) {
    int seen = 0;
    for (const auto& e : h.node(i).events) {
      if (e.kind == MemberEvent::Kind::kUserEvent && e.event_name == "deploy") {
        ++seen;
        CHECK(e.payload == "v2");
      }
    }
    CHECK(seen == 1);
  }
  Outbox out;
  CHECK_FALSE(h.core(0).SendUserEvent(h.now(), "bad name", "", &out).ok());
}

TEST_CASE("load reports spread and the newest version wins", "[core]") {
  Harness h(3);
  h.RunFor(Seconds(2));
  h.Step(0, [&](Outbox* out) {
    h.core(0).PublishLoad(h.now(), LoadReport{0, 1.5, 2, 3, 0, {}}, out);
  });
  h.RunFor(Seconds(1));
  h.Step(0, [&](Outbox* out) {
    h.core(0).PublishLoad(h.now(), LoadReport{0, 2.5, 2, 1, 0, {}}, out);
  });
  h.RunFor(Seconds(1));
  const uint64_t version = h.core(0).LoadOf("node-0")->version;
  CHECK(version == ((uint64_t{1} << 32) | 2));  // incarnation 1, second report
  for (int i = 1; i < 3; ++i) {
    const LoadReport* load = h.core(i).LoadOf("node-0");
    REQUIRE(load != nullptr);
    CHECK(load->version == version);
    CHECK(load->load1 == 2.5);
  }
}

TEST_CASE("a restarted node's earlier report does not come back with it", "[core]") {
  Harness h(3);
  h.RunFor(Seconds(2));
  CopyLoad copy;
  copy.site = "web";
  copy.serving = true;
  copy.port = 30000;
  h.Step(1, [&](Outbox* out) {
    h.core(1).PublishLoad(h.now(), LoadReport{0, 1.0, 2, 3, 0, {copy}}, out);
  });
  h.RunFor(Seconds(1));
  REQUIRE(h.core(0).LoadOf("node-1") != nullptr);
  h.node(1).up = false;
  h.RunFor(Seconds(4));
  REQUIRE(h.StatusOf(0, 1) == MemberStatus::kDead);
  // node-2 still holds the old report and keeps offering it (push-pull, gossip).
  REQUIRE(h.core(2).LoadOf("node-1") != nullptr);
  h.Boot(1, 2);
  h.Step(1, [&](Outbox* out) { h.core(1).Join(h.now(), {h.node(0).address}, out); });
  // At no moment (the join's exchange itself, then every millisecond) does a node see node-1
  // alive again with the copy of its earlier life.
  int stale = 0;
  for (int step = 0; step < 3000; ++step) {
    if (step > 0) h.RunFor(Milliseconds(1));
    for (int i : {0, 2}) {
      const Member* member = h.core(i).FindMember("node-1");
      const LoadReport* load = h.core(i).LoadOf("node-1");
      if (member->status == MemberStatus::kAlive && load != nullptr && !load->copies.empty()) {
        ++stale;
      }
    }
  }
  CHECK(stale == 0);
  REQUIRE(AllAlive(h, 3));
  // Its first report of the new life is taken, however low its count.
  h.Step(1, [&](Outbox* out) {
    h.core(1).PublishLoad(h.now(), LoadReport{0, 0.5, 2, 3, 0, {}}, out);
  });
  h.RunFor(Seconds(1));
  for (int i : {0, 2}) {
    const LoadReport* load = h.core(i).LoadOf("node-1");
    REQUIRE(load != nullptr);
    CHECK(load->load1 == 0.5);
  }
}

TEST_CASE("an urgent load report goes to the named members at once", "[core]") {
  Harness h(4);
  h.RunFor(Seconds(3));
  Outbox out;
  h.core(0).PublishLoad(h.now(), LoadReport{0, 1.0, 2, 3, 0, {}}, &out, {"node-2", "node-9"});
  // One datagram, to node-2 (node-9 is unknown), before any gossip round ran.
  REQUIRE(out.datagrams.size() == 1);
  CHECK(out.datagrams[0].to == h.core(0).FindMember("node-2")->address());
  Outbox quiet;
  h.core(0).PublishLoad(h.now(), LoadReport{0, 1.5, 2, 3, 0, {}}, &quiet);
  CHECK(quiet.datagrams.empty());  // not urgent: the next gossip round carries it
}

TEST_CASE("malformed input is rejected and changes nothing", "[core]") {
  Harness h(3);
  h.RunFor(Seconds(2));
  const size_t before = h.core(0).members().size();
  const uint32_t incarnation = h.core(0).incarnation();
  Outbox out;
  for (const std::string& bytes :
       {std::string(), std::string("\x03\x00xyz", 5), std::string(100, '\xff')}) {
    CHECK(h.core(0).OnDatagram(h.now(), {"127.0.0.9", 1}, bytes, &out).code() ==
          StatusCode::kCorruption);
    CHECK_FALSE(h.core(0).OnPushPullRequest(h.now(), bytes, &out).ok());
  }
  CHECK(out.empty());
  CHECK(h.core(0).incarnation() == incarnation);
  CHECK(h.core(0).members().size() == before);
  CHECK(h.core(0).stats().datagrams_rejected == 3);
}

TEST_CASE("the same seeds replay the same history", "[core]") {
  auto run = [] {
    Harness h(4);
    h.RunFor(Seconds(2));
    h.node(2).up = false;
    h.RunFor(Seconds(5));
    std::vector<std::string> log;
    for (int i = 0; i < 4; ++i) {
      for (const auto& e : h.node(i).events) {
        log.push_back(std::to_string(i) + std::string(MemberEventKindName(e.kind)) + e.name +
                      std::to_string(e.incarnation) + e.from);
      }
    }
    return log;
  };
  CHECK(run() == run());
}

}  // namespace
}  // namespace starling::gossip
