// [integration][lamp] real PHP applications on the php stack (issue 18, docs/STACKS.md).
// WordPress from Debian's packages in a lab network (scripts/netlab): 3 workers that are also
// the database nodes, 2 balancers sharing an address. Installed over HTTP through the shared
// address, a post written, read from every copy; under a bounded wrk load the site scales to
// two workers; a worker's machine dies under load (not the database's writer: its death is the
// database test's); a logged-in WordPress session and a PHP session (the stack's handler keeps
// sessions in the site's database) survive it; a media upload through the dying worker's copy
// (WordPress's uploads persist on the files volume: the workers are storage nodes too) is
// served after it. DokuWiki with its data and conf persisted, two copies: installed and edited
// through one, served by the other. DokuWiki on one node: installed, a page saved and served. The
// stack and the applications' trees come from tests/lamp/prepare (mmdebstrap and apt-get download
// with the machine's package sources; cached under /var/tmp).
#include <sodium.h>

#include <cstring>
#include <future>
#include <set>

#include "src/process/run.h"
#include "tests/integration/db.h"
#include "tests/integration/sites.h"
#include "tests/integration/web.h"
#include "tests/integration/wrk.h"

namespace starling::testing {
namespace {

constexpr const char* kVip = "10.77.0.100";
constexpr uint16_t kListen = 8080;
constexpr const char* kDomain = "wp.example.com";
constexpr const char* kPassword = "Starling-admin-pass-7";
constexpr int kConnections = 8;  // wrk's
constexpr const char* kWikiDomain = "wiki.example.com";
constexpr const char* kWikiPage = "starling:hello";

// The php stack's tree and the applications' (tests/lamp/prepare), made on the host: before a
// lab, whose hub has no way out. The stack's tree; empty when it could not be made.
struct Prepared {
  fs::path stack, wordpress, dokuwiki;
};
Prepared Prepare() {
  const std::string cache = "/var/tmp/starling-lamp";
  const std::string output =
      RunCommand(fmt::format("STARLING_BINARY={} {}/tests/lamp/prepare {} 2>{}/prepare.log",
                             STARLING_BINARY, STARLING_SOURCE_DIR, cache, "/var/tmp"));
  INFO(Cluster::ReadAll("/var/tmp/prepare.log"));
  const std::string stack = output.substr(0, output.find('\n'));
  REQUIRE(fs::exists(fs::path(stack) / "usr/sbin/apache2"));
  return {stack, fs::path(cache) / "wordpress", fs::path(cache) / "dokuwiki"};
}

// The CLI against `agent`'s API (HTTPS in a lab: the cluster's CA from the key file).
std::string Cli(const Cluster::Agent& agent, const std::string& args) {
  return RunCommand(fmt::format("{} --api {}:{} {} 2>&1; echo exit=$?", STARLING_BINARY, agent.host,
                                agent.api_port, args));
}

// wrk against the shared address: `path` of the site, 8 connections, latencies.
std::future<WrkResult> Wrk(int seconds, const std::string& path) {
  return RunWrk(fmt::format("-t2 -c{} -d{}s --latency --timeout 10s -H 'Host: {}' http://{}:{}{}",
                            kConnections, seconds, kDomain, kVip, kListen, path));
}

// An XML-RPC call's body: wp.newPost as `admin`.
std::string NewPostCall(const std::string& title, const std::string& content) {
  return fmt::format(
      "<?xml version=\"1.0\"?><methodCall><methodName>wp.newPost</methodName><params>"
      "<param><value><int>1</int></value></param>"
      "<param><value><string>admin</string></value></param>"
      "<param><value><string>{}</string></value></param>"
      "<param><value><struct>"
      "<member><name>post_title</name><value><string>{}</string></value></member>"
      "<member><name>post_content</name><value><string>{}</string></value></member>"
      "<member><name>post_status</name><value><string>publish</string></value></member>"
      "</struct></value></param></params></methodCall>",
      kPassword, title, content);
}

// DokuWiki's installer (tests/lamp/dokuwiki/README: a superuser, ACL on, anyone may read)
// through `browser`, a login, and `page` saved with `marker` in it.
void InstallWikiAndSave(Browser& browser, const std::string& page, const std::string& marker) {
  auto installed = browser.PostForm("/install.php", {{"l", "en"},
                                                     {"d[title]", "Starling Wiki"},
                                                     {"d[acl]", "on"},
                                                     {"d[superuser]", "admin"},
                                                     {"d[fullname]", "Wiki Admin"},
                                                     {"d[email]", "admin@example.org"},
                                                     {"d[password]", kPassword},
                                                     {"d[confirm]", kPassword},
                                                     {"d[policy]", "1"},
                                                     {"d[allowreg]", "0"},
                                                     {"d[license]", "cc-by-sa"},
                                                     {"submit", ""}});
  REQUIRE(installed);
  INFO(installed->body.substr(0, 2000));
  REQUIRE_THAT(installed->body, Catch::Contains("The configuration was finished successfully"));

  // Logged in (a PHP session), the editor's form, a page saved.
  REQUIRE(browser.Get("/doku.php?id=start&do=login"));
  auto login = browser.PostForm(
      "/doku.php",
      {{"id", "start"}, {"do", "login"}, {"sectok", ""}, {"u", "admin"}, {"p", kPassword}});
  REQUIRE(login);
  CHECK(login->status == 302);
  auto editor = browser.Get("/doku.php?id=" + page + "&do=edit");
  REQUIRE(editor);
  const std::string form =
      editor->body.substr(std::min(editor->body.size(), editor->body.find("id=\"dw__editform\"")));
  auto field = [&](const std::string& name) {
    return Find(form, "name=\"" + name + "\" value=\"([^\"]*)\"");
  };
  REQUIRE_FALSE(field("sectok").empty());
  auto saved = browser.PostForm("/doku.php", {{"id", page},
                                              {"sectok", field("sectok")},
                                              {"rev", "0"},
                                              {"date", field("date")},
                                              {"prefix", "."},
                                              {"suffix", ""},
                                              {"changecheck", field("changecheck")},
                                              {"target", "section"},
                                              {"wikitext", "Hello from Starling: " + marker},
                                              {"summary", "created"},
                                              {"do[save]", "1"}});
  REQUIRE(saved);
  CHECK(saved->status == 302);
}

// An upload through WordPress's XML-RPC (wp.uploadFile): the path of the file it kept.
std::string UploadMedia(Browser& browser, const std::string& name, const std::string& content) {
  std::string bits(sodium_base64_ENCODED_LEN(content.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(bits.data(), bits.size(),
                    reinterpret_cast<const unsigned char*>(content.data()), content.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  bits.resize(std::strlen(bits.c_str()));
  const std::string call = fmt::format(
      "<?xml version=\"1.0\"?><methodCall><methodName>wp.uploadFile</methodName><params>"
      "<param><value><int>1</int></value></param>"
      "<param><value><string>admin</string></value></param>"
      "<param><value><string>{}</string></value></param>"
      "<param><value><struct>"
      "<member><name>name</name><value><string>{}</string></value></member>"
      "<member><name>type</name><value><string>text/plain</string></value></member>"
      "<member><name>bits</name><value><base64>{}</base64></value></member>"
      "</struct></value></param></params></methodCall>",
      kPassword, name, bits);
  auto answer = browser.Post("/xmlrpc.php", call, "text/xml");
  REQUIRE(answer);
  INFO(answer->body);
  const std::string path = Find(answer->body, R"((/wp-content/uploads/[^<"]+))");
  REQUIRE_FALSE(path.empty());
  return path;
}

// A page of the test's own beside WordPress: a PHP session's counter.
constexpr const char* kSessionPage =
    "<?php session_start(); $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; "
    "echo 'visits=' . $_SESSION['n'] . \"\\n\";\n";

TEST_CASE(
    "WordPress on the php stack: installed through the balancers, scaled by load, a worker "
    "dies under load with no failed GET and sessions survive",
    "[integration][lamp]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(fs::exists("/usr/lib/galera/libgalera_smm.so"));
  REQUIRE(fs::exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"));
  REQUIRE(
      RunCommand("for p in keepalived wrk nsenter mmdebstrap; do command -v $p; done | wc -l") ==
      "4\n");
  REQUIRE(NetLab::Possible());
  const Prepared prepared = Prepare();
  NetLab lab("stw" + std::to_string(::getpid() % 100000), 5);
  Cluster cluster(lab.name());
  // The tree pushed: WordPress and the test's session page.
  const fs::path tree = cluster.dir() / "wordpress";
  REQUIRE(RunCommand(fmt::format("cp -a {} {} && echo ok", prepared.wordpress.string(),
                                 tree.string())) == "ok\n");
  std::ofstream(tree / "starling-session.php") << kSessionPage;

  const std::string worker_config =
      std::string("roles = [\"worker\", \"db\", \"storage\"]\n") + kCopiesConfig +
      "[db]\nbuffer_pool_mb = 64\ngcache_mb = 64\n[files]\nping_timeout_s = 5\n";
  for (int i = 1; i <= 3; ++i) cluster.Add(fmt::format("worker-{}", i), {}, worker_config);
  const std::string balancer_config = BalancerPairConfig(kListen, kVip);
  cluster.Add("balancer-1", {}, balancer_config);
  cluster.Add("balancer-2", {}, balancer_config);
  for (auto& agent : cluster.agents()) cluster.Start(agent);
  auto& agents = cluster.agents();
  REQUIRE(cluster.WaitAllAlive(5, std::chrono::seconds(30)));
  const std::vector<Cluster::Agent> workers(agents.begin(), agents.begin() + 3);
  REQUIRE(!WaitAllSynced(cluster, workers, 3, std::chrono::seconds(120)).empty());
  // The CLI speaks to a balancer's API: every worker may die below.
  const Cluster::Agent& api = agents[3];

  std::string said = Cli(api, "stack push php " + prepared.stack.string() + " --ack all-live");
  INFO(said);
  REQUIRE_THAT(said, Catch::Contains("exit=0"));
  said = Cli(api, fmt::format("site create wp --domain {} --database --min 1 --max 3 --secret "
                              "WP_SECRET=lamp-test-{} --persist wp-content/uploads --ack all-live",
                              kDomain, ::getpid()));
  REQUIRE_THAT(said, Catch::Contains("exit=0"));
  said = Cli(api, "image push wp " + tree.string() + " --stack php --ack all-live --wait-s 180");
  REQUIRE_THAT(said, Catch::Contains("exit=0"));

  // Not installed yet: WordPress sends every visitor to its installer.
  Browser browser(kVip, kListen, kDomain);
  std::string answered;
  const bool to_installer = WaitFor(std::chrono::seconds(60), [&] {
    auto home = browser.Get("/");
    answered = home ? fmt::format("{} {}\n{}", home->status, home->get_header_value("Location"),
                                  home->body.substr(0, 1000))
                    : httplib::to_string(home.error());
    return home && home->status == 302 &&
           home->get_header_value("Location").find("install.php") != std::string::npos;
  });
  INFO(answered);
  INFO(Cli(api, "logs wp --lines 30"));
  REQUIRE(to_installer);
  auto installed =
      browser.PostForm("/wp-admin/install.php?step=2", {{"weblog_title", "Starling LAMP"},
                                                        {"user_name", "admin"},
                                                        {"admin_password", kPassword},
                                                        {"admin_password2", kPassword},
                                                        {"pw_weak", "1"},
                                                        {"admin_email", "admin@example.com"},
                                                        {"blog_public", "0"},
                                                        {"language", ""}});
  REQUIRE(installed);
  INFO(installed->body.substr(0, 2000));
  REQUIRE(installed->status == 200);
  REQUIRE_THAT(installed->body, Catch::Contains("Success!"));

  // Logged in: WordPress's cookies (signed with the keys every copy derives from WP_SECRET).
  browser.SetCookie("wordpress_test_cookie", "WP%20Cookie%20check");
  auto login = browser.PostForm("/wp-login.php", {{"log", "admin"},
                                                  {"pwd", kPassword},
                                                  {"wp-submit", "Log In"},
                                                  {"redirect_to", "/wp-admin/"},
                                                  {"testcookie", "1"}});
  REQUIRE(login);
  REQUIRE(login->status == 302);
  REQUIRE(browser.HasCookieStartingWith("wordpress_logged_in_"));
  auto logged_in = [&](Browser& who) {
    auto dashboard = who.Get("/wp-admin/");
    return dashboard && dashboard->status == 200 &&
           dashboard->body.find("Dashboard") != std::string::npos;
  };
  CHECK(logged_in(browser));

  // A post, written through XML-RPC, read from the shared address.
  auto posted = browser.Post(
      "/xmlrpc.php", NewPostCall("Hello from Starling", "Served by every copy."), "text/xml");
  REQUIRE(posted);
  INFO(posted->body);
  const std::string post = Find(posted->body, R"(<string>(\d+)</string>)");
  REQUIRE_FALSE(post.empty());
  const std::string post_path = "/?p=" + post;
  auto read = browser.Get(post_path);
  REQUIRE(read);
  CHECK(read->status == 200);
  CHECK_THAT(read->body, Catch::Contains("Served by every copy."));

  // A PHP session begun now.
  Browser visitor(kVip, kListen, kDomain);
  auto visit = [&](Browser& who) {
    auto page = who.Get("/starling-session.php");
    return page && page->status == 200 ? Find(page->body, R"(visits=(\d+))") : "";
  };
  CHECK(visit(visitor) == "1");

  // Load: the post's page, 8 connections; the site spreads to a second worker.
  std::vector<std::pair<std::string, WrkResult>> report;
  double spread_s = -1;
  {
    const auto loaded = std::chrono::steady_clock::now();
    auto wrk = Wrk(45, post_path);
    const bool spread = WaitFor(std::chrono::seconds(40), [&] {
      std::set<std::string> nodes;
      for (const auto& copy : Serving(cluster, "wp")) nodes.insert(copy.node);
      return nodes.size() >= 2;
    });
    spread_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - loaded).count();
    report.emplace_back("load until a second copy", wrk.get());
    INFO(report.back().second.output);
    REQUIRE(spread);
    CHECK(report.back().second.failed() == 0);
  }
  // Every copy serves the post and knows the session (each reached at its own address).
  const std::vector<Copy> serving = Serving(cluster, "wp");
  REQUIRE(serving.size() >= 2);
  int visits = 1;
  for (const auto& copy : serving) {
    INFO(copy.node);
    Browser direct = browser.At(Named(cluster, copy.node).host, copy.port);
    auto page = direct.Get(post_path);
    REQUIRE(page);
    CHECK(page->status == 200);
    CHECK_THAT(page->body, Catch::Contains("Served by every copy."));
    CHECK(logged_in(direct));
    Browser visitor_there = visitor.At(Named(cluster, copy.node).host, copy.port);
    CHECK(visit(visitor_there) == std::to_string(++visits));
  }

  // A worker's machine dies under load: one with a copy, not the database's writer.
  const auto db = Cluster::Api(agents[0], "GET", "/v1/db", "{}", 3);
  REQUIRE(db);
  const std::string writer = db->second.value("endpoint", json::object()).value("writer", "");
  std::string doomed;
  for (const auto& copy : serving) {
    if (copy.node != writer) doomed = copy.node;
  }
  INFO(db->second.dump());
  REQUIRE_FALSE(doomed.empty());
  Cluster::Agent& victim = Named(cluster, doomed);
  // A media upload through the copy on the worker about to die (its persisted uploads).
  const std::string upload = fmt::format("uploaded through one copy {}\n", ::getpid());
  std::string upload_path;
  for (const auto& copy : serving) {
    if (copy.node != doomed) continue;
    Browser there = browser.At(victim.host, copy.port);
    upload_path = UploadMedia(there, "starling-upload.txt", upload);
  }
  REQUIRE_FALSE(upload_path.empty());
  {
    auto wrk = Wrk(15, post_path);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // wrk's connections open first
    lab.Crash(static_cast<int>(&victim - &agents[0]) + 1);
    Cluster::Kill(victim, SIGKILL);  // reaps it
    report.emplace_back("a worker dies under load", wrk.get());
    INFO(report.back().second.output);
    // At most the requests in flight on the dead copy: one per connection.
    CHECK(report.back().second.failed() <= static_cast<uint64_t>(kConnections));
  }
  // The sessions live on, wherever the next request lands.
  for (int i = 0; i < 3; ++i) {
    CHECK(logged_in(browser));
    CHECK(visit(visitor) == std::to_string(++visits));
  }
  // The upload outlived its copy's worker: served through the shared address and every copy.
  auto uploaded = browser.Get(upload_path);
  REQUIRE(uploaded);
  CHECK(uploaded->status == 200);
  CHECK(uploaded->body == upload);
  for (const auto& copy : Serving(cluster, "wp")) {
    INFO(copy.node);
    auto there = browser.At(Named(cluster, copy.node).host, copy.port).Get(upload_path);
    REQUIRE(there);
    CHECK(there->body == upload);
  }

  // DokuWiki with its data and conf persisted, two copies on the workers left: installed and
  // edited through one copy, the page served by the other.
  said = Cli(api, fmt::format("site create wiki --domain {} --min 2 --max 2 --persist data "
                              "--persist conf --ack all-live",
                              kWikiDomain));
  REQUIRE_THAT(said, Catch::Contains("exit=0"));
  said = Cli(api, "image push wiki " + prepared.dokuwiki.string() +
                      " --stack php --ack all-live --wait-s 120");
  REQUIRE_THAT(said, Catch::Contains("exit=0"));
  std::vector<Copy> wikis;
  REQUIRE(WaitFor(std::chrono::seconds(90), [&] {
    wikis = Serving(cluster, "wiki");
    return wikis.size() == 2 && wikis[0].node != wikis[1].node;
  }));
  Browser editor(Named(cluster, wikis[0].node).host, wikis[0].port, kWikiDomain);
  const std::string marker = "starling-dokuwiki-" + std::to_string(::getpid());
  InstallWikiAndSave(editor, kWikiPage, marker);
  Browser reader(Named(cluster, wikis[1].node).host, wikis[1].port, kWikiDomain);
  auto page = reader.Get(std::string("/doku.php?id=") + kWikiPage);
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK_THAT(page->body, Catch::Contains(marker));
  // Its configuration, written by the installer through one copy, is the other's too.
  auto config = reader.Get("/doku.php?id=start&do=login");
  REQUIRE(config);
  CHECK_THAT(config->body, Catch::Contains("Starling Wiki"));

  std::string table = fmt::format("{:<28} {:>9} {:>7} {:>9} {:>9}\n", "event", "requests", "failed",
                                  "p50 ms", "p99 ms");
  for (const auto& [name, r] : report) {
    table += fmt::format("{:<28} {:>9} {:>7} {:>9.1f} {:>9.1f}\n", name, r.requests, r.failed(),
                         r.p50_ms, r.p99_ms);
  }
  table += fmt::format("a second copy serving on another worker {:.1f} s after the load began\n",
                       spread_s);
  std::printf("%s", table.c_str());
  WARN(table);
}

TEST_CASE("DokuWiki on the php stack installs, saves a page and serves it", "[integration][lamp]") {
  REQUIRE(::geteuid() == 0);
  REQUIRE(process::InPath("runc"));
  REQUIRE(process::InPath("mmdebstrap"));
  const Prepared prepared = Prepare();
  Cluster cluster;
  auto& agent = cluster.Add("wiki-1", {}, "[copies]\nsingle_node = true\nstop_grace_s = 1\n");
  cluster.Start(agent);
  REQUIRE(cluster.WaitAllAlive(1, std::chrono::seconds(20)));
  std::string said = Cli(agent, "stack push php " + prepared.stack.string() + " --ack local");
  INFO(said);
  REQUIRE_THAT(said, Catch::Contains("exit=0"));
  REQUIRE_THAT(Cli(agent, "site create wiki --domain wiki.example.com --ack local"),
               Catch::Contains("exit=0"));
  said = Cli(agent, "image push wiki " + prepared.dokuwiki.string() +
                        " --stack php --ack local --wait-s 120");
  REQUIRE_THAT(said, Catch::Contains("exit=0"));
  std::vector<Copy> serving;
  REQUIRE(WaitFor(std::chrono::seconds(60),
                  [&] { return (serving = Serving(cluster, "wiki")).size() == 1; }));
  Browser browser("127.0.0.1", serving[0].port, "wiki.example.com");

  const std::string marker = "starling-dokuwiki-" + std::to_string(::getpid());
  InstallWikiAndSave(browser, kWikiPage, marker);
  const std::string page = kWikiPage;
  // Served to anyone; the wiki's own files are not.
  Browser anyone("127.0.0.1", serving[0].port, "wiki.example.com");
  auto shown = anyone.Get("/doku.php?id=" + page);
  REQUIRE(shown);
  CHECK(shown->status == 200);
  CHECK_THAT(shown->body, Catch::Contains(marker));
  auto secret = anyone.Get("/conf/users.auth.php");
  REQUIRE(secret);
  CHECK(secret->status == 403);
}

}  // namespace
}  // namespace starling::testing
