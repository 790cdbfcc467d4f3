// [unit] the balancer pair's keepalived configuration: well-formed input only, and a text the
// real keepalived accepts (its own --config-test, when it is installed and we are root).
#include "src/balancer/keepalived.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace starling::balancer {
namespace {

VrrpOptions Good() {
  VrrpOptions options;
  options.node = "lb-1";
  options.interface = "veth-lb1";
  options.address = "10.77.0.2";
  options.peers = {"10.77.0.3"};
  options.virtual_address = "10.77.0.100/24";
  options.priority = 150;
  options.nginx_pid_file = "/var/lib/starling/nginx/nginx.pid";
  return options;
}

TEST_CASE("keepalived: a pair's configuration, unicast, nopreempt, tracking nginx", "[unit]") {
  const VrrpOptions options = Good();
  REQUIRE(Validate(options).ok());
  const std::string text = RenderKeepalived(options);
  CHECK_THAT(text, Catch::Contains("unicast_src_ip 10.77.0.2"));
  CHECK_THAT(text,
             Catch::Contains("unicast_peer {\n        10.77.0.3 min_ttl 255 max_ttl 255\n    }\n"
                             "    check_unicast_src\n"));
  CHECK_THAT(text, Catch::Contains("10.77.0.100/24 dev veth-lb1"));
  CHECK_THAT(text, Catch::Contains("nopreempt"));
  CHECK_THAT(text, Catch::Contains("advert_int 0.5"));
  CHECK_THAT(text, Catch::Contains("kill -0 $(cat /var/lib/starling/nginx/nginx.pid)"));

  if (std::filesystem::exists("/usr/sbin/keepalived") && ::geteuid() == 0) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("starling-keepalived-" + std::to_string(::getpid()) + ".conf");
    // keepalived refuses interfaces the host lacks, and loopback: the check runs in a network
    // namespace of its own with a veth pair (created and deleted here).
    const std::string ns = "starling-kt-" + std::to_string(::getpid());
    VrrpOptions in_ns = options;
    in_ns.interface = "kt0";
    std::ofstream(path) << RenderKeepalived(in_ns);
    const std::string command = "ip netns add " + ns + " && ip -n " + ns +
                                " link add kt0 type veth peer name kt1 && ip netns exec " + ns +
                                " /usr/sbin/keepalived --config-test -f " + path.string() +
                                " 2>&1; status=$?; ip netns del " + ns + "; exit $status";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[512];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int status = ::pclose(pipe);
    INFO(output);
    CHECK(status == 0);
    std::filesystem::remove(path);
  }
}

TEST_CASE("keepalived: a balancer that knows no peer yet speaks multicast", "[unit]") {
  VrrpOptions options = Good();
  options.peers.clear();
  REQUIRE(Validate(options).ok());
  const std::string text = RenderKeepalived(options);
  CHECK(text.find("unicast") == std::string::npos);
  CHECK_THAT(text, Catch::Contains("10.77.0.100/24 dev veth-lb1"));
}

TEST_CASE("keepalived: bad input is refused with what is wrong", "[unit]") {
  struct Case {
    void (*change)(VrrpOptions*);
    const char* says;
  };
  const Case cases[] = {
      {[](VrrpOptions* o) { o->address = "10.77.0"; }, "not an IP address"},
      {[](VrrpOptions* o) { o->peers = {"lb-2"}; }, "peer 'lb-2'"},
      {[](VrrpOptions* o) { o->virtual_address = "10.77.0.100"; }, "IP/prefix"},
      {[](VrrpOptions* o) { o->virtual_address = "10.77.0.100/2x"; }, "IP/prefix"},
      {[](VrrpOptions* o) { o->interface = "eth0; rm -rf /"; }, "interface"},
      {[](VrrpOptions* o) { o->priority = 255; }, "priority"},
      {[](VrrpOptions* o) { o->router_id = 0; }, "router id"},
      {[](VrrpOptions* o) { o->advert_s = 0; }, "advert"},
      {[](VrrpOptions* o) { o->nginx_pid_file = "/tmp/x'; reboot; '"; }, "pid file"},
  };
  for (const auto& c : cases) {
    VrrpOptions options = Good();
    c.change(&options);
    const Status status = Validate(options);
    INFO(c.says);
    REQUIRE_FALSE(status.ok());
    CHECK_THAT(status.message(), Catch::Contains(c.says));
  }
}

}  // namespace
}  // namespace starling::balancer
