// [unit] the database endpoint's configuration and its switch-overs (src/db/endpoint.h): one
// slot enabled, the writer's; the new writer enabled before the old one's connections are shut.
#include "src/db/endpoint.h"

#include <catch2/catch.hpp>

namespace starling::db {
namespace {

const DbServer kA{"db-a", "10.0.0.1", 3306};
const DbServer kB{"db-b", "10.0.0.2", 3306};
const DbServer kC{"db-c", "10.0.0.3", 3306};

TEST_CASE("DB endpoint: the configuration listens for copies, with disabled slots", "[unit]") {
  EndpointOptions options;
  options.admin_socket = "/var/lib/starling/db-endpoint/admin.sock";
  const std::string text = RenderEndpointConfig(options);
  for (const char* line :
       {"stats socket /var/lib/starling/db-endpoint/admin.sock mode 600 level admin\n",
        "mode tcp\n", "bind 127.0.0.1:3307\n", "server-template s 1-16 127.0.0.1:9 disabled\n"}) {
    CHECK_THAT(text, Catch::Contains(line));
  }
}

TEST_CASE("DB endpoint: first pointing, a writer change, a node leaving and coming", "[unit]") {
  auto first = PlanEndpoint({}, {kB, kA, kC}, "db-b", 16);
  CHECK(first.next.slots.at(1) == kA);  // by name
  CHECK(first.next.slots.at(2) == kB);
  CHECK(first.next.slots.at(3) == kC);
  CHECK(first.next.writer_slot == 2);
  CHECK(first.commands == std::vector<std::string>{
                              "set server db/s1 addr 10.0.0.1 port 3306",
                              "set server db/s2 addr 10.0.0.2 port 3306",
                              "set server db/s3 addr 10.0.0.3 port 3306",
                              "set server db/s2 state ready",
                          });

  // Nothing changed: only the (idempotent) enabling of the writer.
  auto same = PlanEndpoint(first.next, {kA, kB, kC}, "db-b", 16);
  CHECK(same.commands == std::vector<std::string>{"set server db/s2 state ready"});

  // The writer dies: the next is enabled, then the old slot is disabled and its sessions shut.
  auto moved = PlanEndpoint(first.next, {kA, kC}, "db-c", 16);
  CHECK(moved.next.writer_slot == 3);
  CHECK_FALSE(moved.next.slots.contains(2));
  CHECK(moved.commands == std::vector<std::string>{
                              "set server db/s3 state ready",
                              "set server db/s2 state maint",
                              "shutdown sessions server db/s2",
                          });

  // It comes back (not the writer now): a slot again — not the one freed just before, when that
  // happens in the same plan.
  auto back = PlanEndpoint(moved.next, {kA, kB, kC}, "db-c", 16);
  CHECK(back.next.slots.at(2) == kB);
  CHECK(back.next.writer_slot == 3);
  CHECK(back.commands == std::vector<std::string>{"set server db/s2 addr 10.0.0.2 port 3306",
                                                  "set server db/s3 state ready"});
  DbServer d{"db-d", "10.0.0.4", 3306};
  auto swap = PlanEndpoint(first.next, {kA, kC, d}, "db-a", 16);
  CHECK(swap.next.slots.at(4) == d);  // slot 2 was freed by this plan
  CHECK(swap.commands.back() == "shutdown sessions server db/s2");
}

TEST_CASE("DB endpoint: no writer, an address change, and too many nodes", "[unit]") {
  auto first = PlanEndpoint({}, {kA, kB}, "db-a", 2);
  auto none = PlanEndpoint(first.next, {kA, kB}, "", 2);
  CHECK(none.next.writer_slot == 0);
  CHECK(none.commands ==
        std::vector<std::string>{"set server db/s1 state maint", "shutdown sessions server db/s1"});
  DbServer moved_a{"db-a", "10.0.0.9", 3307};
  auto readdressed = PlanEndpoint(first.next, {moved_a, kB}, "db-a", 2);
  CHECK(readdressed.commands.front() == "set server db/s1 addr 10.0.0.9 port 3307");
  auto full = PlanEndpoint(first.next, {kA, kB, kC}, "db-a", 2);
  CHECK(full.unplaced == std::vector<std::string>{"db-c"});
}

}  // namespace
}  // namespace starling::db
