// [unit] the OCI config of a copy: one core, the site's limits, the host's network, PORT.
#include "src/copies/oci_bundle.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "src/copies/id_range.h"

namespace starling::copies {
namespace {

TEST_CASE("a copy's OCI config holds its limits, command and port", "[unit]") {
  CopySpec spec;
  spec.id = "starling-shop-1";
  spec.root = "/var/lib/starling/copies/shop-1/root";
  spec.command = {"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080"};
  spec.env = {{"APP_ENV", "production"}, {"PORT", "1"}};
  spec.port = 31001;
  spec.memory_bytes = 256u << 20;
  spec.pids = 64;
  spec.cgroup_path = "/starling/starling-shop-1";
  const nlohmann::json config = OciConfig(spec);
  CHECK(config["process"]["args"] == spec.command);
  const auto& env = config["process"]["env"];
  CHECK(std::count(env.begin(), env.end(), "PORT=31001") == 1);
  CHECK(std::count(env.begin(), env.end(), "PORT=1") == 0);  // the node's port wins
  CHECK(std::count(env.begin(), env.end(), "APP_ENV=production") == 1);
  CHECK(config["root"]["path"] == spec.root);
  CHECK(config["root"]["readonly"] == false);
  const auto& resources = config["linux"]["resources"];
  CHECK(resources["cpu"]["quota"] == resources["cpu"]["period"]);  // one core
  CHECK(resources["memory"]["limit"] == uint64_t{256} << 20);
  CHECK(resources["pids"]["limit"] == 64);
  CHECK(config["linux"]["cgroupsPath"] == spec.cgroup_path);
  for (const auto& ns : config["linux"]["namespaces"]) CHECK(ns["type"] != "network");
  CHECK(config["linux"]["namespaces"].size() == 4);
  // runc's default masked and read-only paths.
  for (const char* masked : {"/proc/kcore", "/proc/keys", "/proc/sched_debug", "/sys/firmware"}) {
    CHECK(std::count(config["linux"]["maskedPaths"].begin(), config["linux"]["maskedPaths"].end(),
                     masked) == 1);
  }
  CHECK(std::count(config["linux"]["readonlyPaths"].begin(), config["linux"]["readonlyPaths"].end(),
                   "/proc/sys") == 1);
  // The seccomp profile (src/copies/seccomp.h): namespaces, mounts and keyrings refused.
  const auto& seccomp = config["linux"]["seccomp"];
  CHECK(seccomp["defaultAction"] == "SCMP_ACT_ALLOW");
  CHECK_FALSE(seccomp["architectures"].empty());
  const auto& denied = seccomp["syscalls"][0]["names"];
  for (const char* call : {"unshare", "setns", "mount", "keyctl", "bpf", "io_uring_setup"}) {
    CHECK(std::count(denied.begin(), denied.end(), call) == 1);
  }
  CHECK(seccomp["syscalls"][0]["action"] == "SCMP_ACT_ERRNO");
  CHECK(seccomp["syscalls"][1]["names"][0] == "clone3");
  CHECK(seccomp["syscalls"][1]["errnoRet"] == 38);  // ENOSYS: libc falls back to clone
  uint64_t clone_flags = 0;
  for (const auto& rule : seccomp["syscalls"]) {
    if (rule["names"][0] != "clone") continue;
    CHECK(rule["args"][0]["op"] == "SCMP_CMP_MASKED_EQ");
    CHECK(rule["args"][0]["value"] == rule["args"][0]["valueTwo"]);
    clone_flags |= rule["args"][0]["value"].get<uint64_t>();
  }
  CHECK(clone_flags == 0x7E020080);  // CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET,TIME}
  spec.cpus = 0.5;
  spec.memory_bytes = 0;
  spec.pids = 0;
  const nlohmann::json half = OciConfig(spec);
  CHECK(half["linux"]["resources"]["cpu"]["quota"] == 50000);
  CHECK_FALSE(half["linux"]["resources"].contains("memory"));
  CHECK_FALSE(half["linux"]["resources"].contains("pids"));
}

TEST_CASE("a copy gets the host's resolver read-only when there is one", "[unit]") {
  CopySpec spec;
  spec.id = "starling-shop-1";
  spec.root = "/var/lib/starling/copies/shop-1/root";
  spec.command = {"/bin/busybox", "httpd"};
  auto resolv = [](const nlohmann::json& config) {
    for (const auto& mount : config["mounts"]) {
      if (mount["destination"] == "/etc/resolv.conf") return mount;
    }
    return nlohmann::json();
  };
  CHECK(resolv(OciConfig(spec)).is_null());
  spec.resolv_conf = "/etc/resolv.conf";
  const nlohmann::json mount = resolv(OciConfig(spec));
  REQUIRE(mount.is_object());
  CHECK(mount["source"] == "/etc/resolv.conf");
  CHECK(mount["type"] == "bind");
  const auto options = mount["options"].get<std::vector<std::string>>();
  CHECK(std::count(options.begin(), options.end(), "ro") == 1);
  CHECK(std::count(options.begin(), options.end(), "nosuid") == 1);
}

TEST_CASE("a copy gets its site's persisted directories bound read-write, nosuid, nodev",
          "[unit]") {
  CopySpec spec;
  spec.id = "starling-shop-1";
  spec.root = "/var/lib/starling/copies/shop-1/root";
  spec.command = {"/bin/busybox", "httpd"};
  spec.binds = {{"/var/lib/starling/files/sites/shop/data", "/var/www/html/data"}};
  const nlohmann::json config = OciConfig(spec);
  nlohmann::json found;
  for (const auto& mount : config["mounts"]) {
    if (mount["destination"] == "/var/www/html/data") found = mount;
  }
  REQUIRE(found.is_object());
  CHECK(found["source"] == "/var/lib/starling/files/sites/shop/data");
  const auto options = found["options"].get<std::vector<std::string>>();
  for (const char* option : {"rbind", "rw", "nosuid", "nodev"}) {
    CHECK(std::count(options.begin(), options.end(), option) == 1);
  }
  // After the root's own mounts (/proc, /dev, ...), so nothing mounts over it.
  CHECK(config["mounts"].back()["destination"] == "/var/www/html/data");
}

TEST_CASE("a copy with an id range runs in a user namespace, its root an unprivileged host user",
          "[unit]") {
  CopySpec spec;
  spec.id = "starling-shop-1";
  spec.root = "/var/lib/starling/copies/shop-1/root";
  spec.command = {"/bin/busybox", "httpd"};
  CHECK_FALSE(OciConfig(spec)["linux"].contains("uidMappings"));  // none asked: none
  spec.id_base = ChooseIdBase("shop", {});
  const nlohmann::json config = OciConfig(spec);
  const auto& namespaces = config["linux"]["namespaces"];
  CHECK(std::count(namespaces.begin(), namespaces.end(), nlohmann::json{{"type", "user"}}) == 1);
  for (const char* map : {"uidMappings", "gidMappings"}) {
    REQUIRE(config["linux"][map].size() == 1);
    CHECK(config["linux"][map][0]["containerID"] == 0);
    CHECK(config["linux"][map][0]["hostID"] == spec.id_base);
    CHECK(config["linux"][map][0]["size"] == 65536);
  }
  // sysfs belongs to the network namespace (the host's): not mountable there, so not mounted.
  for (const auto& mount : config["mounts"]) CHECK(mount["destination"] != "/sys");
}

TEST_CASE("each site's copies get a range of their own on a node", "[unit]") {
  const uint32_t shop = ChooseIdBase("shop", {});
  CHECK(shop >= kIdFirst);
  CHECK((shop - kIdFirst) % kIdRange == 0);
  CHECK((uint64_t{shop} + kIdRange <= uint64_t{kIdFirst} + uint64_t{kIdSlots} * kIdRange));
  CHECK(ChooseIdBase("shop", {}) == shop);                // the same name, the same range
  CHECK(ChooseIdBase("shop", {{shop, "shop"}}) == shop);  // its own copies' range is its own
  // Another site's copy holds that range here: the next free one.
  const uint32_t next = ChooseIdBase("shop", {{shop, "blog"}});
  CHECK((next == shop + kIdRange || next == kIdFirst));  // (the last slot wraps to the first)
  CHECK(ChooseIdBase("shop", {{shop, "blog"}, {shop + kIdRange, "wiki"}}) == shop + 2 * kIdRange);
  // Names spread: 200 sites, few shared slots.
  std::set<uint32_t> bases;
  for (int i = 0; i < 200; ++i) bases.insert(ChooseIdBase("site-" + std::to_string(i), {}));
  CHECK(bases.size() >= 198);
  // A site sharing files keeps its home range on every node, or does not start beside a site
  // that holds it.
  CHECK(HomeIdBase("shop", {}) == shop);
  CHECK(HomeIdBase("shop", {{shop, "shop"}, {shop + kIdRange, "blog"}}) == shop);
  CHECK(HomeIdBase("shop", {{shop, "blog"}}) == 0);
}

}  // namespace
}  // namespace starling::copies
