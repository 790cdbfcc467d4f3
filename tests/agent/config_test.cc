#include "src/agent/config.h"

#include <catch2/catch.hpp>

namespace starling::agent {
namespace {

const char* kGood = R"(
node_name = "node-1"
bind = "127.0.0.1:7946"
api = "127.0.0.1:7947"
join = ["127.0.0.2:7946", "[::1]:7000"]
key_file = "/etc/starling/keyring"
data_dir = "/var/lib/starling"
profile = "lan"
role = "both"
capacity = 4

[copies]
driver = "process"
ports = "31000-31009"
stop_grace_s = 2.5
up_window_s = 3
down_cooldown_s = 15
single_node = true
isolate_network = false
user_namespaces = false
)";

TEST_CASE("a good configuration parses", "[unit]") {
  auto config = ParseConfig(kGood, "test.toml");
  REQUIRE(config.ok());
  CHECK(config->node_name == "node-1");
  CHECK(config->bind.port == 7946);
  CHECK(config->advertise.ToString() == "127.0.0.1:7946");
  CHECK(config->join == std::vector<std::string>{"127.0.0.2:7946", "[::1]:7000"});
  CHECK(config->role == gossip::Role::kBoth);
  CHECK(config->capacity == 4);
  CHECK(config->swim.probe_interval == Seconds(1));  // the lan profile
  CHECK(config->copies.driver == "process");
  CHECK(config->copies.first_port == 31000);
  CHECK(config->copies.last_port == 31009);
  CHECK(config->copies.stop_grace == Milliseconds(2500));
  CHECK(config->copies.autoscale.up_window == Seconds(3));
  CHECK(config->copies.autoscale.down_cooldown == Seconds(15));
  CHECK(config->copies.autoscale.down_window == Seconds(60));  // the default stays
  CHECK(config->copies.single_node);
  CHECK_FALSE(config->copies.isolate_network);
  CHECK_FALSE(config->copies.user_namespaces);
  auto defaults =
      ParseConfig("node_name = \"n\"\nkey_file = \"k\"\ndata_dir = \"d\"\n", "test.toml");
  REQUIRE(defaults.ok());
  CHECK(defaults->copies.isolate_network);  // copies are contained unless asked otherwise
  CHECK(defaults->copies.user_namespaces);
}

TEST_CASE("a balancer's shared address: the keepalived options it implies", "[unit]") {
  auto config = ParseConfig(std::string(kGood) +
                                "[balancer]\nvip = \"10.0.0.100/24\"\ninterface = \"eth0\"\n"
                                "priority = 150\nadvert_ms = 200\n",
                            "test.toml");
  REQUIRE(config.ok());
  const auto vrrp = VrrpFor(*config, {"127.0.0.3"});
  CHECK(vrrp.address == "127.0.0.1");  // the advertised address
  CHECK(vrrp.priority == 150);
  CHECK(vrrp.advert_s == 0.2);
  CHECK(vrrp.nginx_pid_file == "/var/lib/starling/nginx/nginx.pid");
  CHECK(balancer::Validate(vrrp).ok());
}

TEST_CASE("bad configurations are rejected with what is wrong", "[unit]") {
  struct Case {
    std::string toml;
    std::string says;
  };
  const std::string base = "key_file = \"k\"\ndata_dir = \"d\"\n";
  const Case cases[] = {
      {base, "node_name"},
      {base + "node_name = \"bad name\"", "node_name"},
      {base + "node_name = \"n\"\nbind = \"127.0.0.1\"", "no port"},
      {base + "node_name = \"n\"\nbind = \"127.0.0.1:99999\"", "port must be"},
      {base + "node_name = \"n\"\nadvertise = \"0.0.0.0:7946\"", "wildcard"},
      {base + "node_name = \"n\"\nprofile = \"fast\"", "unknown timer profile"},
      {base + "node_name = \"n\"\nrole = \"king\"", "role"},
      {base + "node_name = \"n\"\ncapacity = -1", "capacity"},
      {base + "node_name = \"n\"\nbnid = \"x:1\"", "unknown setting 'bnid'"},
      {base + "node_name = \"n\"\njoin = \"x:1\"", "join must be an array"},
      {"node_name = \"n\"\ndata_dir = \"d\"", "key_file is required"},
      {base + "node_name = \"n\" oops", "line 3"},
      {base + "node_name = \"n\"\n[copies]\ndriver = \"docker\"", "copies.driver must be"},
      {base + "node_name = \"n\"\n[copies]\nports = \"31000-30000\"", "copies.ports must be"},
      {base + "node_name = \"n\"\n[copies]\nports = \"80-90\"", "copies.ports must be"},
      {base + "node_name = \"n\"\n[copies]\nports = \"3-4x\"", "copies.ports must be"},
      {base + "node_name = \"n\"\n[copies]\nup_window_s = 0", "copies.up_window_s must be"},
      {base + "node_name = \"n\"\n[copies]\nstop_grace = 1", "unknown setting 'copies.stop"},
      {base + "node_name = \"n\"\n[copies]\nsingle_node = 1", "copies.single_node must be"},
      {base + "node_name = \"n\"\n[copies]\nisolate_network = \"no\"",
       "copies.isolate_network must be"},
      {base + "node_name = \"n\"\n[copies]\nuser_namespaces = 0", "copies.user_namespaces must be"},
      {base + "node_name = \"n\"\n[balancer]\nvip = \"10.0.0.9/24\"", "needs balancer.interface"},
      {base + "node_name = \"n\"\n[balancer]\nvip = \"10.0.0.9\"\ninterface = \"eth0\"",
       "IP/prefix"},
      {base + "node_name = \"n\"\n[balancer]\nvip = \"10.0.0.9/24\"\ninterface = \"e;x\"",
       "bad interface name"},
      {base + "node_name = \"n\"\n[balancer]\nvip = \"10.0.0.9/24\"\ninterface = \"eth0\"\n"
              "peers = [\"lb-2\"]",
       "peer 'lb-2'"},
      {base + "node_name = \"n\"\n[balancer]\npriority = 255", "balancer.priority must be"},
      {base + "node_name = \"n\"\n[balancer]\npeers = \"10.0.0.2\"", "balancer.peers must be"},
      {base + "node_name = \"n\"\napi = \"10.0.0.1:7947\"\napi_tls = \"off\"", "only over TLS"},
      {base + "node_name = \"n\"\napi = \"0.0.0.0:7947\"\napi_tls = \"off\"", "only over TLS"},
      {base + "node_name = \"n\"\napi_tls = \"yes\"", "api_tls must be auto, on or off"},
      {base + "node_name = \"n\"\nroles = [\"worker\", \"cache\"]", "roles must list"},
      {base + "node_name = \"n\"\nroles = []", "roles must list"},
      {base + "node_name = \"n\"\nroles = \"db\"", "roles must list"},
      {base + "node_name = \"n\"\nroles = [\"db\"]", "is a worker or a balancer too"},
      {base + "node_name = \"n\"\nroles = [\"storage\"]", "is a worker or a balancer too"},
      {base + "node_name = \"n\"\n[files]\nbrick_dir = \"rel\"", "files.brick_dir must be"},
      {base + "node_name = \"n\"\n[files]\nping_timeout_s = 0", "files.ping_timeout_s must be"},
      {base + "node_name = \"n\"\n[files]\nmount = 1", "files.mount must be"},
      {base + "node_name = \"n\"\n[files]\nvolume = \"x\"", "unknown setting 'files.volume'"},
      {base + "node_name = \"n\"\nrole = \"worker\"\nroles = [\"worker\"]", "not both"},
      {base + "node_name = \"n\"\n[db]\nport = 4567", "must differ"},
      {base + "node_name = \"n\"\n[db]\nport = 0", "db.port must be"},
      {base + "node_name = \"n\"\n[db]\nbuffer_pool_mb = 1", "db.buffer_pool_mb must be"},
      {base + "node_name = \"n\"\n[db]\nendpoint = \"127.0.0.1\"", "no port"},
      {base + "node_name = \"n\"\n[db]\nuser = \"\"", "db.user must be"},
      {base + "node_name = \"n\"\n[db]\nwriter = \"x\"", "unknown setting 'db.writer'"},
      {base + "node_name = \"n\"\napi_cert = \"c.pem\"", "go together"},
      {base + "node_name = \"n\"\napi_cert = \"c\"\napi_key = \"k\"\napi_tls = \"off\"",
       "need api_tls on or auto"},
  };
  for (const auto& c : cases) {
    INFO(c.toml);
    auto config = ParseConfig(c.toml, "test.toml");
    REQUIRE_FALSE(config.ok());
    CHECK_THAT(config.status().message(), Catch::Contains(c.says));
  }
}

TEST_CASE("roles: a worker or balancer that is also a db node, with its [db] table", "[unit]") {
  const std::string base = "node_name = \"n\"\nkey_file = \"k\"\ndata_dir = \"d\"\n";
  auto config = ParseConfig(base +
                                "roles = [\"worker\", \"db\"]\n[db]\nport = 3316\n"
                                "galera_port = 4577\nendpoint = \"127.0.0.1:3317\"\n"
                                "buffer_pool_mb = 64\n",
                            "db.toml");
  REQUIRE(config.ok());
  CHECK(config->role == gossip::Role::kWorker);
  CHECK(config->database);
  CHECK(config->db.port == 3316);
  CHECK(config->db.galera_port == 4577);
  CHECK(config->db.ist_port == 4568);
  CHECK(config->db.endpoint.ToString() == "127.0.0.1:3317");
  CHECK(config->db.buffer_pool_mb == 64);
  auto both = ParseConfig(base + "roles = [\"balancer\", \"worker\"]\n", "both.toml");
  REQUIRE(both.ok());
  CHECK(both->role == gossip::Role::kBoth);
  CHECK_FALSE(both->database);
  auto plain = ParseConfig(base + "role = \"balancer\"\n", "plain.toml");
  REQUIRE(plain.ok());
  CHECK(plain->role == gossip::Role::kBalancer);
  CHECK_FALSE(plain->database);
  CHECK_FALSE(plain->storage);
  auto storage = ParseConfig(base +
                                 "roles = [\"worker\", \"storage\"]\n[files]\n"
                                 "brick_dir = \"/srv/brick\"\nping_timeout_s = 5\n",
                             "storage.toml");
  REQUIRE(storage.ok());
  CHECK(storage->storage);
  CHECK_FALSE(storage->database);
  CHECK(storage->files.brick_dir == "/srv/brick");
  CHECK(storage->files.ping_timeout_s == 5);
  CHECK(storage->files.mount);
}

TEST_CASE("TLS on the API: on wherever the address is not loopback, advertised as a URL",
          "[unit]") {
  const std::string base = "node_name = \"n\"\nkey_file = \"k\"\ndata_dir = \"d\"\n";
  auto parse = [&](const std::string& more) {
    auto config = ParseConfig(base + more, "test.toml");
    INFO(more);
    REQUIRE(config.ok());
    return *config;
  };
  CHECK_FALSE(ApiUsesTls(parse("")));  // the default API is loopback
  CHECK(AdvertisedApi(parse("")) == "http://127.0.0.1:7947");
  CHECK(ApiUsesTls(parse("api = \"10.0.0.1:7947\"")));
  CHECK(AdvertisedApi(parse("api = \"10.0.0.1:7947\"")) == "https://10.0.0.1:7947");
  CHECK(ApiUsesTls(parse("api = \"[::1]:7947\"\napi_tls = \"on\"")));
  CHECK_FALSE(ApiUsesTls(parse("api = \"[::1]:7947\"")));
  // A wildcard API is advertised at the gossip's advertised host.
  const AgentConfig wildcard =
      parse("api = \"0.0.0.0:7947\"\nbind = \"0.0.0.0:7946\"\nadvertise = \"10.0.0.5:7946\"");
  CHECK(AdvertisedApi(wildcard) == "https://10.0.0.5:7947");
}

}  // namespace
}  // namespace starling::agent
