// src/agent/api/context.h — what the API's routes reach: the node's services, and the two ways
// a handler (on an HTTP thread) gets work done — on the io thread, which owns the membership
// core and the services' state, and through the state log's one write path.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "src/agent/api/server.h"
#include "src/agent/config.h"
#include "src/agent/log_driver.h"
#include "src/auth/token.h"
#include "src/sites/release.h"
#include "store/images/manifest.h"

namespace starling::agent {
class Membership;
class ImageService;
class CopyService;
class BalancerService;
class Keys;
class Isolation;
class DatabaseService;
class StorageService;
class FilesMount;
class DbEndpoint;
}  // namespace starling::agent

namespace starling::agent::api {

// How long a handler waits for the io thread before answering 503.
inline constexpr auto kIoTimeout = std::chrono::seconds(3);

struct Context {
  const AgentConfig& config;
  asio::io_context& io;
  Membership* membership;            // io thread only
  LogDriver* log;                    // any thread
  ImageService* images;              // io thread only, but for its Import
  CopyService* copies;               // null when no container runtime works here; io thread only
  BalancerService* balancer;         // null unless this node balances; see balancer.h
  Keys* keys;                        // io thread only
  net::Sealer* sealer;               // any thread (it is thread-safe)
  const StreamTransport* transport;  // io thread only (its counters)
  std::function<void()> leave;       // io thread: leave the cluster and stop
  const Isolation* isolation = nullptr;       // the copies' firewall; null when none (any thread)
  const DatabaseService* database = nullptr;  // a db node's member; null elsewhere (any thread)
  const DbEndpoint* db_endpoint = nullptr;    // a worker's endpoint; null elsewhere (any thread)
  const StorageService* storage = nullptr;    // a storage node's glusterd; null elsewhere
  const FilesMount* files_mount = nullptr;    // a worker's mount of the files volume; or null

  // Runs `work` on the io thread and waits for its result; kUnavailable if the io thread does
  // not answer within kIoTimeout. `work` returns Result<Json> (or anything convertible to it).
  template <typename F>
  Result<Json> OnIo(F work) const {
    auto promise = std::make_shared<std::promise<Result<Json>>>();
    auto future = promise->get_future();
    asio::post(io, [promise, work = std::move(work)]() mutable {
      promise->set_value(Result<Json>(work()));
    });
    if (future.wait_for(kIoTimeout) != std::future_status::ready) {
      return Status::Unavailable("the agent did not answer in time");
    }
    return future.get();
  }

  // Writes through the state log and waits for the acknowledgement `mode` asks for.
  Result<Written> Write(std::vector<Put> puts, store::AckMode mode,
                        std::chrono::milliseconds timeout) const {
    return log->WriteAndWait(std::move(puts), mode, std::chrono::duration_cast<Duration>(timeout));
  }
};

// The write parameters every writing route takes: ?ack=local|one|all-live&timeout_ms=N.
struct WriteOptions {
  store::AckMode mode = store::AckMode::kOne;
  std::chrono::milliseconds timeout{5000};
};
Result<WriteOptions> WriteParams(const Request& request);

// Writes `puts` as `options` ask; `result` is what the caller gets, with where it landed.
Result<Json> WriteAnswer(const Context& context, const WriteOptions& options, std::vector<Put> puts,
                         Json result);

// A site's release as every node's rounds see it (sites::Resolve), its spec, and the stored
// failure when that failure stops this release. Nullopt when the site has no image; NotFound
// when there is no such site.
struct ReleaseView {
  sites::ReleaseState state;
  sites::Site spec;
  std::optional<sites::RolloutFailure> stopped_by;
};
Result<std::optional<ReleaseView>> ReleaseOf(const Context& context, const std::string& site);

// An image push's fields (a site's or a stack's): from the JSON body of a push by path, or the
// X-Starling-Push header of an archive's.
struct PushRequest {
  std::string path;
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  bool allow_setuid = false;
  uint64_t quota_bytes = 0;  // the site's image quota (0: the node's); set by the route
  std::string stack;         // a site's push: the stack it goes on
  std::string docroot;       // a stack's push: where sites' trees go in it
};
// `by_path`: the JSON names a path on the node (else the archive is the body); `stack`: a stack's
// push (docroot, no stack).
Result<PushRequest> PushFields(const Json& body, bool by_path, bool stack);

// The fields of an archive's push, sent as JSON in its X-Starling-Push header (none: {}).
Result<Json> PushHeader(const Request& request);
// The largest archive a push may send: the node's image quota, or 64 GiB when there is none.
size_t ArchiveLimit(const AgentConfig& config);

// Imports `path` as a new version of `image` (a site's, or a stack's: images::StackImage) and
// writes its record with the versions it expires; a site's becomes its release (its copies are
// rolled to it). The HTTP thread does the work: it may take minutes.
Result<Json> ImportVersion(const Context& c, const std::string& image, const std::string& path,
                           const PushRequest& fields, const images::Layering& layering,
                           const WriteOptions& write);

// Route tables, one per resource.
std::vector<Route> SiteRoutes(Context& context);      // sites
std::vector<Route> ReleaseRoutes(Context& context);   // a site's release: rollback, restart
std::vector<Route> ImageRoutes(Context& context);     // images
std::vector<Route> StackRoutes(Context& context);     // stacks: base images sites are layered on
std::vector<Route> CopyRoutes(Context& context);      // copies, events
std::vector<Route> ClusterRoutes(Context& context);   // members, nodes, events, the state log
std::vector<Route> BalancerRoutes(Context& context);  // balancer state, drained
std::vector<Route> DbRoutes(Context& context);        // this node's database member
std::vector<Route> FileRoutes(Context& context);      // this node's part of the files volume
std::vector<Route> KeyRoutes(Context& context);       // keyring
std::vector<Route> MetricRoutes(Context& context);    // /metrics
std::vector<Route> TokenRoutes(Context& context);     // API tokens

// Who a TCP request comes from: an API token (checked against its hashed record in the state
// log) or a cluster-key credential (src/auth/cluster_credential.h).
Authenticator MakeAuthenticator(Context& context);
// The same over any token store: `lookup` gives the record of a token by its name (none when
// there is no such token). Used by the HTTP fuzz target.
using TokenLookup =
    std::function<Result<std::optional<auth::TokenRecord>>(const std::string& name)>;
Authenticator MakeAuthenticator(net::Sealer& sealer, TokenLookup lookup);

}  // namespace starling::agent::api
