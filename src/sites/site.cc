#include "src/sites/site.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "src/sites/persist.h"

namespace starling::sites {
namespace {

using json = nlohmann::json;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

Result<uint32_t> GetCount(const json& value, const char* field) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > kMaxCopies) {
    return Status::InvalidArgument(std::string(field) + " must be a whole number from 0 to " +
                                   std::to_string(kMaxCopies));
  }
  return static_cast<uint32_t>(value.get<int64_t>());
}

Result<uint32_t> GetLimit(const json& value, const char* field, uint32_t low, uint32_t high) {
  if (!value.is_number_integer() || value.get<int64_t>() < low || value.get<int64_t>() > high) {
    return Status::InvalidArgument(std::string(field) + " must be a whole number from " +
                                   std::to_string(low) + " to " + std::to_string(high));
  }
  return static_cast<uint32_t>(value.get<int64_t>());
}

Result<double> GetLoad(const json& value, const char* field) {
  if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() <= 0 ||
      value.get<double>() > 1000) {
    return Status::InvalidArgument(std::string(field) +
                                   " must be a number above 0 and at most 1000");
  }
  return value.get<double>();
}

}  // namespace

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return Status::InvalidArgument("site name must be 1-63 characters");
  }
  if (!(name[0] >= 'a' && name[0] <= 'z')) {
    return Status::InvalidArgument("site name '" + std::string(name) +
                                   "' must start with a lower-case letter");
  }
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') {
      return Status::InvalidArgument("site name '" + std::string(name) +
                                     "' may hold only a-z, 0-9 and '-'");
    }
  }
  if (name.back() == '-') {
    return Status::InvalidArgument("site name '" + std::string(name) + "' must not end with '-'");
  }
  return Status::Ok();
}

Status ValidateDomain(std::string_view domain) {
  const std::string shown(domain);
  if (domain.empty() || domain.size() > 253) {
    return Status::InvalidArgument("domain '" + shown + "' must be 1-253 characters");
  }
  size_t labels = 0;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == std::string_view::npos) end = domain.size();
    const std::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63) {
      return Status::InvalidArgument("domain '" + shown + "' has an empty or over-long label");
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') {
        return Status::InvalidArgument("domain '" + shown +
                                       "' may hold only lower-case a-z, 0-9, '-' and '.'");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Status::InvalidArgument("domain '" + shown +
                                     "' has a label starting or ending with '-'");
    }
    ++labels;
    start = end + 1;
  }
  if (labels < 2)
    return Status::InvalidArgument("domain '" + shown + "' needs at least two labels");
  return Status::Ok();
}

Status ValidateEnvName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && !std::isdigit(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(),
                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  if (!ok) {
    return Status::InvalidArgument("'" + std::string(name) +
                                   "' is not a variable name: [A-Za-z_][A-Za-z0-9_]*, at most 64");
  }
  if (name == "PORT") return Status::InvalidArgument("PORT is the copy's own: not a setting");
  return Status::Ok();
}

Status Validate(const Site& site) {
  if (Status s = ValidateName(site.name); !s.ok()) return s;
  if (site.database && site.name.size() > kMaxDatabaseSiteName) {
    // Its schema and its imports' staging schema ("<schema>$import") must fit MariaDB's 64.
    return Status::InvalidArgument("a site with a database has a name of at most " +
                                   std::to_string(kMaxDatabaseSiteName) + " characters");
  }
  if (site.domains.empty()) return Status::InvalidArgument("a site needs at least one domain");
  if (site.domains.size() > kMaxDomains) {
    return Status::InvalidArgument("a site has at most " + std::to_string(kMaxDomains) +
                                   " domains");
  }
  for (const auto& domain : site.domains) {
    if (Status s = ValidateDomain(domain); !s.ok()) return s;
  }
  if (site.max_copies < 1) return Status::InvalidArgument("max must be at least 1");
  if (site.min_copies > site.max_copies) {
    return Status::InvalidArgument("min (" + std::to_string(site.min_copies) +
                                   ") must not exceed max (" + std::to_string(site.max_copies) +
                                   ")");
  }
  if (!(site.down < site.up)) {
    return Status::InvalidArgument("down must be below up, or copies would flap");
  }
  if (site.env.size() + site.secrets.size() > kMaxEnv) {
    return Status::InvalidArgument("a site has at most " + std::to_string(kMaxEnv) +
                                   " settings and secrets");
  }
  for (const auto& [name, value] : site.env) {
    if (Status s = ValidateEnvName(name); !s.ok()) return s;
    if (value.size() > kMaxEnvValue || value.find('\0') != std::string::npos) {
      return Status::InvalidArgument("setting " + name + " must be at most " +
                                     std::to_string(kMaxEnvValue) + " bytes, without NUL");
    }
    if (site.secrets.contains(name)) {
      return Status::InvalidArgument(name + " is both a setting and a secret");
    }
  }
  for (const auto& [name, fingerprint] : site.secrets) {
    if (Status s = ValidateEnvName(name); !s.ok()) return s;
  }
  return ValidatePersist(site.persist);
}

json ToJson(const Site& site) {
  return {{"name", site.name},
          {"domains", site.domains},
          {"min", site.min_copies},
          {"max", site.max_copies},
          {"up", site.up},
          {"down", site.down},
          {"memory_mb", site.memory_mb},
          {"pids", site.pids},
          {"start_timeout_s", site.start_timeout_s},
          {"max_body_mb", site.max_body_mb},
          {"surge", site.surge},
          {"image_quota_mb", site.image_quota_mb},
          {"database", site.database},
          {"env", site.env},
          {"secrets", site.secrets},
          {"persist", site.persist},
          {"files_quota_mb", site.files_quota_mb}};
}

Result<Site> Apply(const Site& base, const json& body, bool create) {
  if (!body.is_object()) return Status::InvalidArgument("the site must be a JSON object");
  Site site = base;
  for (const auto& [field, value] : body.items()) {
    if (field == "name") {
      if (!value.is_string()) return Status::InvalidArgument("name must be a string");
      if (!create && value.get<std::string>() != base.name) {
        return Status::InvalidArgument("a site cannot be renamed");
      }
      site.name = value.get<std::string>();
    } else if (field == "domains") {
      if (!value.is_array()) return Status::InvalidArgument("domains must be an array of strings");
      site.domains.clear();
      for (const auto& domain : value) {
        if (!domain.is_string()) {
          return Status::InvalidArgument("domains must be an array of strings");
        }
        site.domains.push_back(domain.get<std::string>());
      }
      std::sort(site.domains.begin(), site.domains.end());
      if (std::adjacent_find(site.domains.begin(), site.domains.end()) != site.domains.end()) {
        return Status::InvalidArgument("a domain is listed twice");
      }
    } else if (field == "min") {
      auto n = GetCount(value, "min");
      if (!n.ok()) return n.status();
      site.min_copies = *n;
    } else if (field == "max") {
      auto n = GetCount(value, "max");
      if (!n.ok()) return n.status();
      site.max_copies = *n;
    } else if (field == "up") {
      auto x = GetLoad(value, "up");
      if (!x.ok()) return x.status();
      site.up = *x;
    } else if (field == "down") {
      auto x = GetLoad(value, "down");
      if (!x.ok()) return x.status();
      site.down = *x;
    } else if (field == "memory_mb") {
      auto n = GetLimit(value, "memory_mb", kMinMemoryMb, kMaxMemoryMb);
      if (!n.ok()) return n.status();
      site.memory_mb = *n;
    } else if (field == "pids") {
      auto n = GetLimit(value, "pids", kMinPids, kMaxPids);
      if (!n.ok()) return n.status();
      site.pids = *n;
    } else if (field == "start_timeout_s") {
      auto n = GetLimit(value, "start_timeout_s", 1, kMaxStartTimeoutS);
      if (!n.ok()) return n.status();
      site.start_timeout_s = *n;
    } else if (field == "max_body_mb") {
      auto n = GetLimit(value, "max_body_mb", 1, kMaxBodyMb);
      if (!n.ok()) return n.status();
      site.max_body_mb = *n;
    } else if (field == "surge") {
      auto n = GetLimit(value, "surge", 1, kMaxSurge);
      if (!n.ok()) return n.status();
      site.surge = *n;
    } else if (field == "database") {
      if (!value.is_boolean()) return Status::InvalidArgument("database must be true or false");
      site.database = value.get<bool>();
    } else if (field == "env" || field == "secrets") {
      // A merge: a name with a string sets it, with null removes it. (Through the API, secrets
      // arrive in clear and are sealed before this: here they are fingerprints.)
      if (!value.is_object()) {
        return Status::InvalidArgument(field + " must be an object of names to strings or null");
      }
      auto& into = field == "env" ? site.env : site.secrets;
      for (const auto& [name, setting] : value.items()) {
        if (setting.is_null()) {
          into.erase(name);
        } else if (setting.is_string()) {
          into[name] = setting.get<std::string>();
        } else {
          return Status::InvalidArgument(field + "." + name + " must be a string or null");
        }
      }
    } else if (field == "persist") {
      // An array is the whole list; an object a merge, as env's: a path with true is added,
      // with null removed (the CLI's --persist and --unpersist).
      std::vector<std::string> paths;
      if (value.is_array()) {
        for (const auto& path : value) {
          if (!path.is_string()) return Status::InvalidArgument("persist must hold paths");
          paths.push_back(path.get<std::string>());
        }
      } else if (value.is_object()) {
        paths = site.persist;
        for (const auto& [path, setting] : value.items()) {
          auto normal = NormalizePersistPath(path);
          if (!normal.ok()) return normal.status();
          std::erase(paths, *normal);
          if (setting == true) {
            paths.push_back(*normal);
          } else if (!setting.is_null()) {
            return Status::InvalidArgument("persist." + path + " must be true or null");
          }
        }
      } else {
        return Status::InvalidArgument(
            "persist must be an array of paths or an object of paths to true or null");
      }
      auto normal = NormalizePersist(paths);
      if (!normal.ok()) return normal.status();
      site.persist = std::move(*normal);
    } else if (field == "files_quota_mb") {
      auto n = GetLimit(value, "files_quota_mb", 0, kMaxFilesQuotaMb);
      if (!n.ok()) return n.status();
      site.files_quota_mb = *n;
    } else if (field == "image_quota_mb") {
      auto n = GetLimit(value, "image_quota_mb", 0, kMaxImageQuotaMb);
      if (!n.ok()) return n.status();
      site.image_quota_mb = *n;
    } else {
      return Status::InvalidArgument("unknown field '" + field + "'");
    }
  }
  if (Status s = Validate(site); !s.ok()) return s;
  return site;
}

std::string DatabaseName(std::string_view site) {
  std::string name(site);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::string Encode(const Site& site) { return ToJson(site).dump(); }

Result<Site> Decode(std::string_view bytes) {
  json body = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Status::Corruption("a stored site is not JSON");
  auto site = Apply(Site{}, body, /*create=*/true);
  if (!site.ok()) return Status::Corruption("a stored site is invalid: " + site.status().message());
  return site;
}

}  // namespace starling::sites
