// [unit] the option file a db node's mariadbd runs with (src/db/galera_config.h): what Galera
// needs to join or form a cluster on this node's address, and nothing the file's syntax would
// read differently.
#include "src/db/galera_config.h"

#include <catch2/catch.hpp>

namespace starling::db {
namespace {

GaleraOptions Good() {
  GaleraOptions options;
  options.node_name = "db-1";
  options.host = "10.0.0.1";
  options.data_dir = "/var/lib/starling/mariadb/data";
  options.run_dir = "/var/lib/starling/mariadb/run";
  options.sst_password = "s3cretAbc";
  options.peers = {"10.0.0.2:4567", "10.0.0.3:4567"};
  return options;
}

TEST_CASE("Galera config: a joining member's option file", "[unit]") {
  const GaleraOptions options = Good();
  REQUIRE(Validate(options).ok());
  const std::string text = RenderOptionFile(options);
  for (const char* line :
       {"[mariadbd]\n", "datadir=/var/lib/starling/mariadb/data\n",
        "socket=/var/lib/starling/mariadb/run/mariadb.sock\n", "bind-address=10.0.0.1\n",
        "tmpdir=/var/lib/starling/mariadb/run/tmp\n", "port=3306\n", "binlog_format=ROW\n",
        "innodb_autoinc_lock_mode=2\n", "innodb_flush_log_at_trx_commit=1\n", "wsrep_on=ON\n",
        "wsrep_cluster_address=gcomm://10.0.0.2:4567,10.0.0.3:4567\n", "wsrep_node_name=db-1\n",
        "wsrep_node_address=10.0.0.1:4567\n",
        "wsrep_provider_options=\"base_host=10.0.0.1;base_port=4567;ist.recv_addr=10.0.0.1:4568;"
        "gcache.size=128M;evs.keepalive_period=PT0.2S;evs.inactive_check_period=PT0.2S;"
        "evs.join_retrans_period=PT0.2S;evs.suspect_timeout=PT1.5S;evs.inactive_timeout=PT3.0S;"
        "evs.install_timeout=PT3.0S\"\n",
        "wsrep_sst_method=mariabackup\n", "wsrep_sst_auth=starling_sst:s3cretAbc\n",
        "wsrep_sst_receive_address=10.0.0.1:4444\n"}) {
    CHECK_THAT(text, Catch::Contains(line));
  }
  CHECK(SocketPath(options) == "/var/lib/starling/mariadb/run/mariadb.sock");
}

TEST_CASE("Galera config: a bootstrapping member forms a new component", "[unit]") {
  GaleraOptions options = Good();
  options.bootstrap = true;
  REQUIRE(Validate(options).ok());
  CHECK_THAT(RenderOptionFile(options), Catch::Contains("wsrep_cluster_address=gcomm://\n"));
  options.peers.clear();
  CHECK(Validate(options).ok());
  options.bootstrap = false;
  CHECK_THAT(Validate(options).message(), Catch::Contains("needs peers"));
}

TEST_CASE("Galera config: what the option file would misread is refused", "[unit]") {
  struct Case {
    void (*change)(GaleraOptions*);
    const char* says;
  };
  const Case cases[] = {
      {[](GaleraOptions* o) { o->sst_password = "a b"; }, "SST password"},
      {[](GaleraOptions* o) { o->sst_password = "x\nwsrep_on=OFF"; }, "SST password"},
      {[](GaleraOptions* o) { o->sst_password = ""; }, "SST password"},
      {[](GaleraOptions* o) { o->node_name = "a#b"; }, "node name"},
      {[](GaleraOptions* o) { o->host = "10.0.0.1;x"; }, "host"},
      {[](GaleraOptions* o) { o->data_dir = "relative/dir"; }, "absolute path"},
      {[](GaleraOptions* o) { o->run_dir = "/with space"; }, "absolute path"},
      {[](GaleraOptions* o) { o->ist_port = o->port; }, "ports must differ"},
      {[](GaleraOptions* o) { o->peers = {"10.0.0.2"}; }, "must be host:port"},
      {[](GaleraOptions* o) { o->peers = {"10.0.0.2:4567,evil:1"}; }, "must be host:port"},
      {[](GaleraOptions* o) { o->buffer_pool_mb = 1; }, "buffer_pool_mb"},
      {[](GaleraOptions* o) { o->max_connections = 1; }, "max_connections"},
  };
  for (const auto& c : cases) {
    GaleraOptions options = Good();
    c.change(&options);
    const Status status = Validate(options);
    INFO(c.says);
    REQUIRE_FALSE(status.ok());
    CHECK_THAT(status.message(), Catch::Contains(c.says));
  }
}

}  // namespace
}  // namespace starling::db
