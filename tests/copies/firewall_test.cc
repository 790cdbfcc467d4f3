// The copies' firewall (src/copies/firewall.h): the rules it writes, and (as root, with nft) that
// the kernel takes them, that they are checked for, and that they go.
#include "src/copies/firewall.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "src/process/run.h"

namespace starling::copies {
namespace {

TEST_CASE("Firewall: the ruleset refuses a copy's traffic to the node and the members",
          "[copies]") {
  FirewallSpec spec{.table = "starling_node_1",
                    .cgroup = "starling",
                    .members = {"10.0.0.2", "10.0.0.1", "10.0.0.2", "fd00::7", "node-3.example",
                                "0.0.0.0", "::", "10.0.0.1; flush ruleset"},
                    .local_ports = {53}};
  const std::string rules = FirewallRuleset(spec);
  INFO(rules);
  // Replaced whole: created if missing, deleted, defined, in one script.
  CHECK(rules.starts_with("table inet starling_node_1\ndelete table inet starling_node_1\n"));
  CHECK(rules.find("socket cgroupv2 level 1 \"starling\" jump copy") != std::string::npos);
  // Answers and established flows pass before anything is refused; no connection tracking.
  CHECK(rules.find("tcp flags & (syn | ack) != syn accept") < rules.find("reject"));
  CHECK(rules.find("ct ") == std::string::npos);
  // IP literals only, each once, by family; names, unspecified addresses and junk left out.
  CHECK(rules.find("elements = { 10.0.0.1, 10.0.0.2 }") != std::string::npos);
  CHECK(rules.find("elements = { fd00::7 }") != std::string::npos);
  CHECK(rules.find("node-3") == std::string::npos);
  CHECK(rules.find("0.0.0.0") == std::string::npos);
  CHECK(rules.find("flush") == std::string::npos);
  CHECK(rules.find("th dport { 53 } accept") <
        rules.find("fib daddr type { local, broadcast, multicast } counter reject"));
  CHECK(rules.find("ip daddr @members4 counter reject") != std::string::npos);
  CHECK(rules.find("ip6 daddr @members6 counter reject") != std::string::npos);
  // No members: empty sets, still valid.
  const std::string lonely = FirewallRuleset({.table = "t", .members = {}});
  CHECK(lonely.find("set members4 { type ipv4_addr; }") != std::string::npos);
  CHECK(lonely.find("dport") == std::string::npos);
  CHECK(FirewallTableFor("web-1.rack.2") == "starling_web_1_rack_2");
}

TEST_CASE("Firewall: the kernel takes the rules, they are checked for, and removed", "[copies]") {
  if (::geteuid() != 0 || !std::filesystem::exists("/usr/sbin/nft")) {
    WARN("not root or no nft: rules not loaded");
    return;
  }
  const std::string scratch =
      std::filesystem::temp_directory_path() / ("starling-fw-" + std::to_string(::getpid()));
  auto firewall = Firewall::Make(scratch);
  REQUIRE(firewall.ok());
  const FirewallSpec spec{.table = "starling_fwtest_" + std::to_string(::getpid()),
                          .members = {"192.0.2.10", "2001:db8::10"},
                          .local_ports = {53}};
  REQUIRE((*firewall)->Apply(spec).ok());
  CHECK((*firewall)->Holds(spec));
  // Emptied by hand (a firewall manager's flush): no longer holds; applied again, holds.
  REQUIRE(std::system(("nft flush chain inet " + spec.table + " copy").c_str()) == 0);
  CHECK_FALSE((*firewall)->Holds(spec));
  REQUIRE((*firewall)->Apply(spec).ok());
  CHECK((*firewall)->Holds(spec));
  auto listed = process::RunProgram({"nft", "list", "table", "inet", spec.table});
  REQUIRE(listed.ok());
  CHECK(listed->exit_code == 0);
  CHECK(listed->output.find("192.0.2.10") != std::string::npos);
  // Applied again with other members: replaced, not added to.
  FirewallSpec moved = spec;
  moved.members = {"192.0.2.11"};
  REQUIRE((*firewall)->Apply(moved).ok());
  listed = process::RunProgram({"nft", "list", "table", "inet", spec.table});
  REQUIRE(listed.ok());
  CHECK(listed->output.find("192.0.2.10") == std::string::npos);
  CHECK(listed->output.find("192.0.2.11") != std::string::npos);
  // A bad table name is nft's error, said back.
  FirewallSpec bad = spec;
  bad.table = "no such table!";
  const Status refused = (*firewall)->Apply(bad);
  CHECK(!refused.ok());
  CHECK(refused.message().find("nft refused") != std::string::npos);
  REQUIRE((*firewall)->Remove(spec.table).ok());
  CHECK(!(*firewall)->Holds(spec));
  CHECK((*firewall)->Remove(spec.table).ok());  // removing what is gone is fine
  std::filesystem::remove_all(scratch);
}

}  // namespace
}  // namespace starling::copies
