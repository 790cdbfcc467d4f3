#include "src/agent/config.h"

#include <toml++/toml.h>

#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace starling::agent {

namespace {

// A [table] whose keys must all be known: a typo is an error naming the key.
Status CheckTable(toml::node_view<toml::node> node, const std::string& table,
                  const std::set<std::string>& known) {
  if (!node.is_table())
    return Status::InvalidArgument(table + " must be a table ([" + table + "])");
  for (const auto& [key, value] : *node.as_table()) {
    if (!known.contains(std::string(key.str()))) {
      return Status::InvalidArgument("unknown setting '" + table + "." + std::string(key.str()) +
                                     "'");
    }
  }
  return Status::Ok();
}

// table.key, when present, as an integer in [low, high].
template <typename T>
Status Integer(toml::node_view<toml::node> node, const std::string& table, const char* key,
               int64_t low, int64_t high, T* out) {
  if (auto item = node[key]; item) {
    auto value = item.value<int64_t>();
    if (!item.is_integer() || !value || *value < low || *value > high) {
      return Status::InvalidArgument(table + "." + key + " must be an integer " +
                                     std::to_string(low) + "-" + std::to_string(high));
    }
    *out = static_cast<T>(*value);
  }
  return Status::Ok();
}

Status ParseImages(toml::node_view<toml::node> node, ImagesConfig* images) {
  static const std::set<std::string> kKnown = {
      "keep_versions", "max_in_flight", "per_peer_in_flight", "bandwidth_mb_s", "materialize",
      "scrub_mb_s",    "max_image_mb",  "max_expansion",      "min_free_mb"};
  if (Status s = CheckTable(node, "images", kKnown); !s.ok()) return s;
  auto integer = [&](const char* key, int64_t low, int64_t high, auto* out) {
    return Integer(node, "images", key, low, high, out);
  };
  uint64_t bandwidth_mb_s = 0;
  for (Status s : {integer("keep_versions", 1, 100, &images->keep_versions),
                   integer("max_in_flight", 1, 256, &images->max_in_flight),
                   integer("per_peer_in_flight", 1, 64, &images->per_peer_in_flight),
                   integer("bandwidth_mb_s", 0, 100000, &bandwidth_mb_s),
                   integer("scrub_mb_s", 0, 100000, &images->scrub_mb_s),
                   integer("max_image_mb", 0, 1 << 22, &images->max_image_mb),
                   integer("max_expansion", 0, 1000000, &images->max_expansion),
                   integer("min_free_mb", 0, 1 << 22, &images->min_free_mb)}) {
    if (!s.ok()) return s;
  }
  images->bandwidth_bytes_s = bandwidth_mb_s * 1000 * 1000;
  if (auto item = node["materialize"]; item) {
    if (!item.is_boolean())
      return Status::InvalidArgument("images.materialize must be true or false");
    images->materialize = item.as_boolean()->get();
  }
  return Status::Ok();
}

Status ParseCopies(toml::node_view<toml::node> node, CopiesConfig* copies) {
  static const std::set<std::string> kKnown = {
      "driver",        "ports",           "stop_grace_s", "up_window_s",     "down_window_s",
      "up_cooldown_s", "down_cooldown_s", "single_node",  "isolate_network", "user_namespaces"};
  if (Status s = CheckTable(node, "copies", kKnown); !s.ok()) return s;
  if (auto item = node["single_node"]; item) {
    if (!item.is_boolean())
      return Status::InvalidArgument("copies.single_node must be true or false");
    copies->single_node = item.as_boolean()->get();
  }
  if (auto item = node["isolate_network"]; item) {
    if (!item.is_boolean())
      return Status::InvalidArgument("copies.isolate_network must be true or false");
    copies->isolate_network = item.as_boolean()->get();
  }
  if (auto item = node["user_namespaces"]; item) {
    if (!item.is_boolean())
      return Status::InvalidArgument("copies.user_namespaces must be true or false");
    copies->user_namespaces = item.as_boolean()->get();
  }
  if (auto item = node["driver"]; item) {
    static const std::set<std::string> kDrivers = {"auto", "runc", "crun", "process"};
    if (!item.is_string() || !kDrivers.contains(item.as_string()->get())) {
      return Status::InvalidArgument("copies.driver must be auto, runc, crun or process");
    }
    copies->driver = item.as_string()->get();
  }
  if (auto item = node["ports"]; item) {
    // "30000-30999"
    const std::string text = item.is_string() ? item.as_string()->get() : "";
    unsigned first = 0, last = 0;
    char dash = 0, extra = 0;
    std::istringstream in(text);
    if (!(in >> first >> dash >> last) || dash != '-' || (in >> extra) || first < 1024 ||
        last > 65535 || first > last) {
      return Status::InvalidArgument(
          "copies.ports must be a range \"first-last\" within 1024-65535, e.g. \"30000-30999\"");
    }
    copies->first_port = static_cast<uint16_t>(first);
    copies->last_port = static_cast<uint16_t>(last);
  }
  auto seconds = [&](const char* key, int64_t low, int64_t high, Duration* out) -> Status {
    if (auto item = node[key]; item) {
      auto value = item.value<double>();
      if (!(item.is_integer() || item.is_floating_point()) || !value || !(*value >= low) ||
          !(*value <= high)) {
        return Status::InvalidArgument("copies." + std::string(key) + " must be a number of " +
                                       "seconds " + std::to_string(low) + "-" +
                                       std::to_string(high));
      }
      *out = Milliseconds(static_cast<int64_t>(*value * 1000));
    }
    return Status::Ok();
  };
  rules::AutoscaleOptions& scale = copies->autoscale;
  for (Status s : {seconds("stop_grace_s", 0, 600, &copies->stop_grace),
                   seconds("up_window_s", 1, 3600, &scale.up_window),
                   seconds("down_window_s", 1, 3600, &scale.down_window),
                   seconds("up_cooldown_s", 0, 3600, &scale.up_cooldown),
                   seconds("down_cooldown_s", 0, 3600, &scale.down_cooldown)}) {
    if (!s.ok()) return s;
  }
  if (Status s = scale.Validate(); !s.ok())
    return Status::InvalidArgument("copies: " + s.message());
  return Status::Ok();
}

// roles = ["worker", "db"]: worker, balancer (the two together: "both"), db and storage.
Status ParseRoles(toml::node_view<toml::node> node, AgentConfig* config) {
  const auto bad = [] {
    return Status::InvalidArgument(
        "roles must list worker, balancer, db and storage, e.g. [\"worker\", \"db\"]");
  };
  if (!node.is_array() || node.as_array()->empty()) return bad();
  bool worker = false, balancer = false;
  for (const auto& item : *node.as_array()) {
    if (!item.is_string()) return bad();
    const std::string name = item.as_string()->get();
    if (name == "worker") {
      worker = true;
    } else if (name == "balancer") {
      balancer = true;
    } else if (name == "db") {
      config->database = true;
    } else if (name == "storage") {
      config->storage = true;
    } else {
      return bad();
    }
  }
  if (!worker && !balancer) {
    return Status::InvalidArgument(
        "roles: a db or storage node is a worker or a balancer too (a node of those roles alone "
        "is not supported yet)");
  }
  config->role = worker && balancer ? gossip::Role::kBoth
                 : balancer         ? gossip::Role::kBalancer
                                    : gossip::Role::kWorker;
  return Status::Ok();
}

Status ParseDb(toml::node_view<toml::node> node, DbConfig* db) {
  static const std::set<std::string> kKnown = {
      "port",           "galera_port", "ist_port",        "sst_port",
      "buffer_pool_mb", "gcache_mb",   "max_connections", "mariadbd",
      "user",           "endpoint",    "haproxy",         "max_import_mb"};
  if (Status s = CheckTable(node, "db", kKnown); !s.ok()) return s;
  for (Status s : {Integer(node, "db", "port", 1, 65535, &db->port),
                   Integer(node, "db", "galera_port", 1, 65535, &db->galera_port),
                   Integer(node, "db", "ist_port", 1, 65535, &db->ist_port),
                   Integer(node, "db", "sst_port", 1, 65535, &db->sst_port),
                   Integer(node, "db", "buffer_pool_mb", 16, 1 << 20, &db->buffer_pool_mb),
                   Integer(node, "db", "gcache_mb", 16, 1 << 20, &db->gcache_mb),
                   Integer(node, "db", "max_connections", 10, 100000, &db->max_connections),
                   Integer(node, "db", "max_import_mb", 1, 1 << 20, &db->max_import_mb)}) {
    if (!s.ok()) return s;
  }
  const std::set<uint16_t> ports = {db->port, db->galera_port, db->ist_port, db->sst_port};
  if (ports.size() != 4) {
    return Status::InvalidArgument("db.port, galera_port, ist_port and sst_port must differ");
  }
  for (auto [key, out] :
       {std::pair{"mariadbd", &db->mariadbd}, {"user", &db->user}, {"haproxy", &db->haproxy}}) {
    if (auto item = node[key]; item) {
      if (!item.is_string() || item.as_string()->get().empty()) {
        return Status::InvalidArgument("db." + std::string(key) + " must be a non-empty string");
      }
      *out = item.as_string()->get();
    }
  }
  if (auto item = node["endpoint"]; item) {
    if (!item.is_string()) return Status::InvalidArgument("db.endpoint must be host:port");
    auto parsed = ParseHostPort(item.as_string()->get(), "db.endpoint");
    if (!parsed.ok()) return parsed.status();
    db->endpoint = *parsed;
  }
  return Status::Ok();
}

Status ParseFiles(toml::node_view<toml::node> node, FilesConfig* files) {
  static const std::set<std::string> kKnown = {"brick_dir", "ping_timeout_s", "mount"};
  if (Status s = CheckTable(node, "files", kKnown); !s.ok()) return s;
  if (Status s = Integer(node, "files", "ping_timeout_s", 1, 600, &files->ping_timeout_s);
      !s.ok()) {
    return s;
  }
  if (auto item = node["brick_dir"]; item) {
    if (!item.is_string() || !item.as_string()->get().starts_with("/")) {
      return Status::InvalidArgument("files.brick_dir must be an absolute path");
    }
    files->brick_dir = item.as_string()->get();
  }
  if (auto item = node["mount"]; item) {
    if (!item.is_boolean()) return Status::InvalidArgument("files.mount must be true or false");
    files->mount = item.as_boolean()->get();
  }
  return Status::Ok();
}

Status ParseBalancer(toml::node_view<toml::node> node, BalancerConfig* balancer) {
  static const std::set<std::string> kKnown = {
      "listen", "control", "mode",     "nginx",     "user",      "workers",   "retries",
      "vip",    "peers",   "priority", "router_id", "advert_ms", "interface", "keepalived"};
  if (Status s = CheckTable(node, "balancer", kKnown); !s.ok()) return s;
  for (auto [key, out] : {std::pair{"listen", &balancer->listen},
                          {"control", &balancer->control},
                          {"mode", &balancer->mode},
                          {"nginx", &balancer->nginx},
                          {"user", &balancer->user},
                          {"vip", &balancer->vip},
                          {"interface", &balancer->interface},
                          {"keepalived", &balancer->keepalived}}) {
    if (auto item = node[key]; item) {
      if (!item.is_string()) {
        return Status::InvalidArgument("balancer." + std::string(key) + " must be a string");
      }
      *out = item.as_string()->get();
    }
  }
  for (auto [key, text] : {std::pair{"listen", balancer->listen}, {"control", balancer->control}}) {
    auto parsed = ParseHostPort(text, std::string("balancer.") + key);
    if (!parsed.ok()) return parsed.status();
  }
  if (balancer->mode != "lua" && balancer->mode != "reload") {
    return Status::InvalidArgument("balancer.mode must be lua or reload");
  }
  if (balancer->nginx.empty()) return Status::InvalidArgument("balancer.nginx must name a binary");
  for (const char c : balancer->user) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return Status::InvalidArgument("balancer.user must be a user name");
    }
  }
  for (Status s : {Integer(node, "balancer", "workers", 1, 64, &balancer->worker_processes),
                   Integer(node, "balancer", "retries", 1, 10, &balancer->retries),
                   Integer(node, "balancer", "priority", 1, 254, &balancer->priority),
                   Integer(node, "balancer", "router_id", 1, 255, &balancer->router_id),
                   Integer(node, "balancer", "advert_ms", 10, 40000, &balancer->advert_ms)}) {
    if (!s.ok()) return s;
  }
  if (auto peers = node["peers"]; peers) {
    if (!peers.is_array()) return Status::InvalidArgument("balancer.peers must be an array of IPs");
    for (const auto& item : *peers.as_array()) {
      if (!item.is_string()) return Status::InvalidArgument("balancer.peers entries must be IPs");
      balancer->peers.push_back(item.as_string()->get());
    }
  }
  if (!balancer->vip.empty() && balancer->interface.empty()) {
    return Status::InvalidArgument("balancer.vip needs balancer.interface (where it lives)");
  }
  return Status::Ok();
}

}  // namespace

Result<AgentConfig> ParseConfig(std::string_view toml_text, const std::string& source_name) {
  toml::table table;
  try {
    table = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& error) {
    std::ostringstream message;
    message << source_name << ": " << error.description() << " (line " << error.source().begin.line
            << ")";
    return Status::InvalidArgument(message.str());
  }
  static const std::set<std::string> kKnown = {
      "node_name", "bind",     "advertise",        "api",
      "join",      "key_file", "profile",          "data_dir",
      "role",      "capacity", "replay_window_ms", "log_level",
      "images",    "copies",   "balancer",         "api_hosts",
      "api_tls",   "api_cert", "api_key",          "roles",
      "db",        "files"};
  for (const auto& [key, value] : table) {
    if (!kKnown.contains(std::string(key.str()))) {
      return Status::InvalidArgument(source_name + ": unknown setting '" + std::string(key.str()) +
                                     "'");
    }
  }
  AgentConfig config;
  auto text = [&](const char* key, std::string* out) -> Status {
    if (auto node = table[key]; node) {
      if (!node.is_string()) return Status::InvalidArgument(std::string(key) + " must be a string");
      *out = node.as_string()->get();
    }
    return Status::Ok();
  };
  std::string bind, advertise, api, role = "worker", api_tls = "auto";
  for (auto [key, out] : {std::pair{"node_name", &config.node_name},
                          {"bind", &bind},
                          {"advertise", &advertise},
                          {"api", &api},
                          {"api_tls", &api_tls},
                          {"api_cert", &config.api_cert},
                          {"api_key", &config.api_key},
                          {"key_file", &config.key_file},
                          {"profile", &config.profile},
                          {"data_dir", &config.data_dir},
                          {"role", &role},
                          {"log_level", &config.log_level}}) {
    if (Status s = text(key, out); !s.ok()) return s;
  }
  if (!gossip::IsValidName(config.node_name)) {
    return Status::InvalidArgument("node_name must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (!bind.empty()) {
    auto parsed = ParseHostPort(bind, "bind");
    if (!parsed.ok()) return parsed.status();
    config.bind = *parsed;
  }
  config.advertise = config.bind;
  if (!advertise.empty()) {
    auto parsed = ParseHostPort(advertise, "advertise");
    if (!parsed.ok()) return parsed.status();
    config.advertise = *parsed;
  }
  if (config.advertise.host == "0.0.0.0" || config.advertise.host == "::") {
    return Status::InvalidArgument("advertise must be a reachable address, not a wildcard");
  }
  if (!api.empty()) {
    auto parsed = ParseHostPort(api, "api");
    if (!parsed.ok()) return parsed.status();
    config.api = *parsed;
  }
  if (api_tls == "auto") {
    config.api_tls = AgentConfig::Tls::kAuto;
  } else if (api_tls == "on") {
    config.api_tls = AgentConfig::Tls::kOn;
  } else if (api_tls == "off") {
    config.api_tls = AgentConfig::Tls::kOff;
  } else {
    return Status::InvalidArgument("api_tls must be auto, on or off");
  }
  if (config.api_cert.empty() != config.api_key.empty()) {
    return Status::InvalidArgument("api_cert and api_key go together (PEM files)");
  }
  if (!config.api_cert.empty() && config.api_tls == AgentConfig::Tls::kOff) {
    return Status::InvalidArgument("api_cert and api_key need api_tls on or auto");
  }
  if (config.api_tls == AgentConfig::Tls::kOff && !IsLoopbackHost(config.api.host)) {
    return Status::InvalidArgument(
        "api " + config.api.ToString() +
        " is not loopback: the API is served there only over TLS (api_tls = \"off\" is for "
        "loopback addresses)");
  }
  if (auto hosts = table["api_hosts"]; hosts) {
    if (!hosts.is_array()) return Status::InvalidArgument("api_hosts must be an array of names");
    for (const auto& item : *hosts.as_array()) {
      if (!item.is_string() || item.as_string()->get().empty() ||
          item.as_string()->get().size() > 253) {
        return Status::InvalidArgument("api_hosts entries must be host names");
      }
      config.api_hosts.push_back(item.as_string()->get());
    }
  }
  if (auto join = table["join"]; join) {
    if (!join.is_array()) return Status::InvalidArgument("join must be an array of host:port");
    for (const auto& item : *join.as_array()) {
      if (!item.is_string()) return Status::InvalidArgument("join entries must be strings");
      auto parsed = ParseHostPort(item.as_string()->get(), "join entry");
      if (!parsed.ok()) return parsed.status();
      config.join.push_back(parsed->ToString());
    }
  }
  if (auto roles = table["roles"]; roles) {
    if (table["role"]) return Status::InvalidArgument("give role or roles, not both");
    if (Status s = ParseRoles(roles, &config); !s.ok()) return s;
  } else if (role == "worker") {
    config.role = gossip::Role::kWorker;
  } else if (role == "balancer") {
    config.role = gossip::Role::kBalancer;
  } else if (role == "both") {
    config.role = gossip::Role::kBoth;
  } else {
    return Status::InvalidArgument("role must be worker, balancer or both");
  }
  if (auto node = table["capacity"]; node) {
    auto value = node.value<int64_t>();
    if (!value || *value < 0 || *value > 4096) {
      return Status::InvalidArgument("capacity must be an integer 0-4096");
    }
    config.capacity = static_cast<uint32_t>(*value);
  }
  if (auto node = table["replay_window_ms"]; node) {
    auto value = node.value<int64_t>();
    if (!value || *value < 1000 || *value > 3600000) {
      return Status::InvalidArgument("replay_window_ms must be 1000-3600000");
    }
    config.replay_window_ms = *value;
  }
  if (auto images = table["images"]; images) {
    if (Status s = ParseImages(images, &config.images); !s.ok()) return s;
  }
  if (auto copies = table["copies"]; copies) {
    if (Status s = ParseCopies(copies, &config.copies); !s.ok()) return s;
  }
  if (auto balancer = table["balancer"]; balancer) {
    if (Status s = ParseBalancer(balancer, &config.balancer); !s.ok()) return s;
  }
  if (auto db = table["db"]; db) {
    if (Status s = ParseDb(db, &config.db); !s.ok()) return s;
  }
  if (auto files = table["files"]; files) {
    if (Status s = ParseFiles(files, &config.files); !s.ok()) return s;
  }
  if (!config.balancer.vip.empty()) {
    // The keepalived configuration this node would write, checked now: bad addresses or
    // names stop the agent at start with what is wrong.
    if (Status s = balancer::Validate(VrrpFor(config, config.balancer.peers)); !s.ok()) {
      return Status::InvalidArgument("balancer: " + s.message());
    }
  }
  if (config.key_file.empty()) return Status::InvalidArgument("key_file is required");
  if (config.data_dir.empty()) return Status::InvalidArgument("data_dir is required");
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.contains(config.log_level)) {
    return Status::InvalidArgument("log_level must be trace, debug, info, warn or error");
  }
  auto swim = gossip::SwimOptions::ForProfile(config.profile);
  if (!swim.ok()) return swim.status();
  config.swim = *swim;
  if (Status s = config.swim.Validate(); !s.ok()) return s;
  return config;
}

balancer::VrrpOptions VrrpFor(const AgentConfig& config, std::vector<std::string> peers) {
  balancer::VrrpOptions options;
  options.node = config.node_name;
  options.interface = config.balancer.interface;
  options.address = config.advertise.host;
  options.peers = std::move(peers);
  options.virtual_address = config.balancer.vip;
  options.router_id = config.balancer.router_id;
  options.priority = config.balancer.priority;
  options.advert_s = config.balancer.advert_ms / 1000.0;
  options.nginx_pid_file =
      (std::filesystem::absolute(config.data_dir) / "nginx" / "nginx.pid").string();
  return options;
}

Result<AgentConfig> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read config file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseConfig(buffer.str(), path);
}

std::vector<std::string> SelfAddresses(const AgentConfig& config) {
  std::vector<std::string> addresses{config.advertise.ToString()};
  if (config.bind.host != "0.0.0.0" && config.bind.host != "::" &&
      config.bind.ToString() != addresses.front()) {
    addresses.push_back(config.bind.ToString());
  }
  return addresses;
}

bool ApiUsesTls(const AgentConfig& config) {
  switch (config.api_tls) {
    case AgentConfig::Tls::kOn:
      return true;
    case AgentConfig::Tls::kOff:
      return false;
    case AgentConfig::Tls::kAuto:
      return !IsLoopbackHost(config.api.host);
  }
  return true;
}

std::string AdvertisedApi(const AgentConfig& config) {
  ApiAddress api{config.api, ApiUsesTls(config)};
  if (api.address.host == "0.0.0.0" || api.address.host == "::") {
    api.address.host = config.advertise.host;
  }
  return api.Url();
}

std::string LocalApiSocket(const AgentConfig& config) {
  return (std::filesystem::path(config.data_dir) / "api.sock").string();
}

}  // namespace starling::agent
