#include "src/auth/token.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "base/names.h"

namespace starling::auth {
namespace {

constexpr std::string_view kPrefix = "stk.";
constexpr size_t kSecretBytes = 32;

std::string HashHex(std::string_view secret) {
  unsigned char digest[32];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReadonly:
      return "readonly";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "readonly";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kReadonly, Role::kOperator, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return Status::InvalidArgument("a role is admin, operator or readonly, not '" +
                                 std::string(name) + "'");
}

std::string TokenRecord::Encode() const {
  nlohmann::json json = {{"role", RoleName(role)},
                         {"site", site},
                         {"hash", hash},
                         {"created_ms", created_ms},
                         {"created_by", created_by}};
  return json.dump();
}

Result<TokenRecord> TokenRecord::Decode(std::string_view name, std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json["role"].is_string() || !json["hash"].is_string() ||
      !json["site"].is_string()) {
    return Status::Corruption("token '" + std::string(name) + "': not a token record");
  }
  auto role = ParseRole(json["role"].get<std::string>());
  if (!role.ok()) return Status::Corruption("token '" + std::string(name) + "': bad role");
  TokenRecord record;
  record.name = std::string(name);
  record.role = *role;
  record.site = json["site"].get<std::string>();
  record.hash = json["hash"].get<std::string>();
  record.created_ms = json.value("created_ms", uint64_t{0});
  record.created_by = json.value("created_by", "");
  return record;
}

Result<Presented> ParseToken(std::string_view text) {
  const Status bad =
      Status::Unauthenticated("not a Starling token (they look like stk.NAME.SECRET)");
  if (!text.starts_with(kPrefix)) return bad;
  text.remove_prefix(kPrefix.size());
  const size_t dot = text.rfind('.');
  if (dot == std::string_view::npos) return bad;
  Presented presented{std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
  if (!IsValidName(presented.name) || presented.secret.size() < 32 ||
      presented.secret.size() > 64) {
    return bad;
  }
  return presented;
}

Issued IssueToken(std::string name, Role role, std::string site, uint64_t now_ms,
                  std::string created_by) {
  STARLING_CHECK(sodium_init() >= 0);
  unsigned char secret[kSecretBytes];
  randombytes_buf(secret, sizeof secret);
  char text[sodium_base64_ENCODED_LEN(kSecretBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, secret, sizeof secret,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  Issued issued;
  issued.token = std::string(kPrefix) + name + "." + text;
  issued.record = {std::move(name), role,   std::move(site),
                   HashHex(text),   now_ms, std::move(created_by)};
  sodium_memzero(secret, sizeof secret);
  return issued;
}

bool Verifies(const TokenRecord& record, std::string_view secret) {
  const std::string hash = HashHex(secret);
  return hash.size() == record.hash.size() &&
         sodium_memcmp(hash.data(), record.hash.data(), hash.size()) == 0;
}

}  // namespace starling::auth
