// [unit] src/files: glusterd's volfile and the CLI's argument lists, and the parsers of the CLI's
// XML answers — on answers captured from GlusterFS 10.3 on this project's machines
// (tests/files/testdata) and on broken ones.
#include "src/files/gluster.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "src/files/gluster_xml.h"

namespace starling::files {
namespace {

std::string Sample(const std::string& name) {
  std::ifstream in(std::string(STARLING_SOURCE_DIR) + "/tests/files/testdata/" + name);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("glusterd's volfile keeps a node's state, pid files and socket under its own dirs",
          "[unit]") {
  const GlusterdOptions options{"/var/lib/starling/glusterd/state",
                                "/var/lib/starling/glusterd/run", "10.77.0.2"};
  REQUIRE(Validate(options).ok());
  const std::string vol = RenderGlusterdVol(options);
  CHECK_THAT(vol, Catch::Contains("option working-directory /var/lib/starling/glusterd/state\n"));
  CHECK_THAT(vol, Catch::Contains("option run-directory /var/lib/starling/glusterd/run\n"));
  CHECK_THAT(vol, Catch::Contains(
                      "option glusterd-sockfile /var/lib/starling/glusterd/run/glusterd.socket\n"));
  CHECK_THAT(vol, Catch::Contains("option transport.socket.bind-address 10.77.0.2\n"));
  CHECK_THAT(vol, Catch::Contains("option transport.socket.keepalive-time 10\n"));
  CHECK(SocketPath(options) == "/var/lib/starling/glusterd/run/glusterd.socket");
  CHECK_FALSE(Validate({"relative", "/run", "10.0.0.1"}).ok());
  CHECK_FALSE(Validate({"/a b", "/run", "10.0.0.1"}).ok());
  CHECK_FALSE(Validate({"/a", "/run", ""}).ok());
  CHECK_FALSE(Validate({"/a", "/run", "10.0.0.1 x"}).ok());
  CHECK_FALSE(Validate({"/a", "/run", "10.0.0.1", 0}).ok());
}

TEST_CASE("the CLI and the mount get argument lists, never a shell line", "[unit]") {
  CHECK(GlusterArgv("/s/glusterd.socket", "/l/cli.log", {"volume", "info", "starling"}) ==
        std::vector<std::string>{"gluster", "--mode=script", "--glusterd-sock=/s/glusterd.socket",
                                 "--log-file=/l/cli.log", "volume", "info", "starling", "--xml"});
  CHECK(MountArgv({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, "/d/files", "/d/mount.log") ==
        std::vector<std::string>{"mount", "-t", "glusterfs", "-o",
                                 "log-file=/d/mount.log,backup-volfile-servers=10.0.0.2:10.0.0.3",
                                 "10.0.0.1:/starling", "/d/files"});
  CHECK(MountArgv({"10.0.0.1"}, "/d/files", "/d/m.log")[4] == "log-file=/d/m.log");
  CHECK(AuthAllow({"10.0.0.2", "10.0.0.1", "10.0.0.2", "0.0.0.0", "evil,host", "fd00::1"}) ==
        "10.0.0.1,10.0.0.2,fd00::1");
  CHECK(AuthAllow({}).empty());
  bool quorum = false;
  for (const auto& [name, value] : VolumeOptions(5)) {
    quorum |= name == "cluster.quorum-type" && value == "auto";
  }
  CHECK(quorum);
}

TEST_CASE("gluster's answers: peers, a volume, its bricks and their heal backlog", "[unit]") {
  auto peers = ParsePeerStatus(Sample("peer.xml"));
  REQUIRE(peers.ok());
  REQUIRE(peers->size() == 2);
  CHECK((*peers)[0].hostname == "10.77.0.2");
  CHECK((*peers)[0].connected);
  CHECK((*peers)[0].in_cluster);
  CHECK_FALSE((*peers)[1].connected);

  auto none = ParseVolumeInfo(Sample("info-none.xml"));
  REQUIRE(none.ok());
  CHECK_FALSE(none->exists);
  auto created = ParseVolumeInfo(Sample("info-created.xml"));
  REQUIRE(created.ok());
  CHECK(created->exists);
  CHECK_FALSE(created->started);
  auto started = ParseVolumeInfo(Sample("info-started.xml"));
  REQUIRE(started.ok());
  CHECK(started->started);
  CHECK(started->replica == 3);
  CHECK(started->id == "b9a9d95b-a046-4634-a417-581f1a4d9a71");
  CHECK(started->options.at("cluster.quorum-type") == "auto");
  CHECK(started->options.at("nfs.disable") == "on");
  CHECK(started->bricks == std::vector<std::string>{"10.77.0.1:/tmp/gcap/n1/brick",
                                                    "10.77.0.2:/tmp/gcap/n2/brick",
                                                    "10.77.0.3:/tmp/gcap/n3/brick"});

  auto bricks = ParseVolumeStatus(Sample("status-brickdown.xml"));
  REQUIRE(bricks.ok());
  REQUIRE(bricks->size() == 3);  // the self-heal daemons are not bricks
  CHECK((*bricks)[0].up);
  CHECK((*bricks)[0].pid == 13471);
  CHECK((*bricks)[2].host == "10.77.0.3");
  CHECK_FALSE((*bricks)[2].up);

  auto heal = ParseHealSummary(Sample("heal-down.xml"));
  REQUIRE(heal.ok());
  REQUIRE(heal->size() == 3);
  CHECK((*heal)[0].connected);
  CHECK((*heal)[0].pending == 21);
  CHECK((*heal)[0].split_brain == 0);
  CHECK_FALSE((*heal)[2].connected);

  CHECK(CliOutcome(Sample("probe-again.xml")).ok());  // "already in peer list" is fine
  auto failed = CliOutcome(Sample("create-bad.xml"));
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.message(), Catch::Contains("Failed to create volume files"));
}

TEST_CASE("broken answers from gluster are errors that say what was wrong", "[unit]") {
  auto timed_out = CliOutcome("Error : Request timed out\n");
  REQUIRE_FALSE(timed_out.ok());
  CHECK_THAT(timed_out.message(), Catch::Contains("Request timed out"));
  CHECK_FALSE(CliOutcome("").ok());
  CHECK_FALSE(ParsePeerStatus("<other/>").ok());
  CHECK_FALSE(ParseVolumeInfo("<cliOutput><opRet>x</opRet></cliOutput>").ok());
  const std::string started = Sample("info-started.xml");
  CHECK_FALSE(ParseVolumeInfo(started.substr(0, started.size() / 2)).ok());
  std::string bad_status = Sample("status-brickdown.xml");
  bad_status.replace(bad_status.find("<pid>13471</pid>"), 16, "<pid>lots</pid>");
  CHECK_FALSE(ParseVolumeStatus(bad_status).ok());
  std::string negative = Sample("heal-down.xml");
  negative.replace(negative.find("<numberOfEntriesInHealPending>21"), 33,
                   "<numberOfEntriesInHealPending>-4");
  CHECK_FALSE(ParseHealSummary(negative).ok());
  CHECK_FALSE(CliOutcome(std::string(5 << 20, ' ')).ok());
}

}  // namespace
}  // namespace starling::files
