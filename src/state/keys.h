// src/state/keys.h — every key the replicated state log holds, in one place (DESIGN.md §5).
// A new kind of fact gets its prefix here, so two services never share one by accident and a
// reader sees the whole log's layout at a glance. Keys are "<prefix><parts joined by '/'>"; the
// parts are validated names (site, node: [A-Za-z0-9._-]), so '/' never occurs inside one.
#pragma once

#include <string>
#include <string_view>

namespace starling::keys {

// "site/<site>": the site's spec (JSON, src/sites/site.h).
inline constexpr std::string_view kSite = "site/";
// "image/<site>/<version>": an image version's record (src/images/registry.h).
inline constexpr std::string_view kImage = "image/";
// "image-held/<site>/<version>/<node>": a node's progress with that version (JSON).
inline constexpr std::string_view kImageHeld = "image-held/";
// "desired/<site>": the copy count the site's coordinator chose (JSON {count, by, reason, at_ms}).
inline constexpr std::string_view kDesired = "desired/";
// "release/<site>": the image version its copies run, and the one before (src/sites/release.h).
inline constexpr std::string_view kRelease = "release/";
// "rollout/<site>": a release whose copies failed to serve: not rolled further (JSON).
inline constexpr std::string_view kRollout = "rollout/";
// "drain/<node>": present while the node is being emptied of copies.
inline constexpr std::string_view kDrain = "drain/";
// "token/<name>": an API token's record: its role, site and hash (src/auth/token.h).
inline constexpr std::string_view kToken = "token/";
// "kv/<anything>": the operators' small key-value space (/v1/kv).
inline constexpr std::string_view kKv = "kv/";
// "db-node/<node>": a node that runs a member of the database cluster, registered at its first
// start as one; the bootstrap rule waits for every registered node (src/rules/db_cluster.h).
inline constexpr std::string_view kDbNode = "db-node/";
// "storage-node/<node>": a node that serves a brick of the site files' volume, registered at its
// first start as one; the volume is formed only when every registered node is there
// (src/rules/files_volume.h).
inline constexpr std::string_view kStorageNode = "storage-node/";
// "db-secret/<name>": a database secret sealed with the cluster key (src/auth/sealed_secret.h):
// "sst" (the state transfer user's password) and "site/<site>" (each site's user).
inline constexpr std::string_view kDbSecret = "db-secret/";
// "db-ready/<site>": the writer's node made the site's schema and user (JSON {by, at_ms}); its
// copies start only then, so their first connection finds the database.
inline constexpr std::string_view kDbReady = "db-ready/";
// "db-drop/<site>": `site delete --drop-database` asked for the site's database to go (JSON
// {at_ms}); the writer's node drops its schema and user, then removes this and the site's
// database keys. Without it a deleted site's database stays.
inline constexpr std::string_view kDbDrop = "db-drop/";
// "site-secret/<site>/<name>": a site's secret setting, sealed with the cluster key
// (src/auth/sealed_secret.h; site update --secret); its copies get it in their environment.
inline constexpr std::string_view kSiteSecret = "site-secret/";

inline std::string Join(std::string_view prefix, std::string_view a) {
  std::string key(prefix);
  key += a;
  return key;
}
inline std::string Join(std::string_view prefix, std::string_view a, std::string_view b) {
  std::string key = Join(prefix, a);
  key += '/';
  key += b;
  return key;
}

inline std::string Site(std::string_view site) { return Join(kSite, site); }
// Every version of `site`: "image/<site>/".
inline std::string ImagesOf(std::string_view site) { return Join(kImage, site) + "/"; }
inline std::string Image(std::string_view site, std::string_view version) {
  return Join(kImage, site, version);
}
// Every node's progress with versions of `site`: "image-held/<site>/".
inline std::string HeldOf(std::string_view site) { return Join(kImageHeld, site) + "/"; }
// Every node's progress with one version: "image-held/<site>/<version>/".
inline std::string HeldOf(std::string_view site, std::string_view version) {
  return Join(kImageHeld, site, version) + "/";
}
inline std::string Held(std::string_view site, std::string_view version, std::string_view node) {
  return HeldOf(site, version) + std::string(node);
}
inline std::string Desired(std::string_view site) { return Join(kDesired, site); }
inline std::string Release(std::string_view site) { return Join(kRelease, site); }
inline std::string Rollout(std::string_view site) { return Join(kRollout, site); }
inline std::string Drain(std::string_view node) { return Join(kDrain, node); }
inline std::string Kv(std::string_view key) { return Join(kKv, key); }
inline std::string Token(std::string_view name) { return Join(kToken, name); }
inline std::string DbNode(std::string_view node) { return Join(kDbNode, node); }
inline std::string StorageNode(std::string_view node) { return Join(kStorageNode, node); }
inline std::string DbSecret(std::string_view name) { return Join(kDbSecret, name); }
inline std::string DbReady(std::string_view site) { return Join(kDbReady, site); }
inline std::string DbDrop(std::string_view site) { return Join(kDbDrop, site); }
inline std::string SiteSecrets(std::string_view site) { return Join(kSiteSecret, site) + "/"; }
inline std::string SiteSecret(std::string_view site, std::string_view name) {
  return Join(kSiteSecret, site, name);
}

}  // namespace starling::keys
