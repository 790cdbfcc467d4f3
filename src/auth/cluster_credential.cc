#include "src/auth/cluster_credential.h"

#include <sodium.h>

namespace starling::auth {
namespace {

// What is sealed: "<method> <path> <body hash>".
std::string Statement(std::string_view method, std::string_view path, std::string_view body_hash) {
  std::string statement(method);
  statement += ' ';
  statement += path;
  statement += ' ';
  statement += body_hash;
  return statement;
}

}  // namespace

BodyHasher::BodyHasher() { crypto_generichash_init(&state_, nullptr, 0, 32); }

void BodyHasher::Update(std::string_view bytes) {
  crypto_generichash_update(&state_, reinterpret_cast<const unsigned char*>(bytes.data()),
                            bytes.size());
}

std::string BodyHasher::Hex() {
  unsigned char digest[32];
  crypto_generichash_final(&state_, digest, sizeof digest);
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

std::string BodyHash(std::string_view body) {
  BodyHasher hasher;
  hasher.Update(body);
  return hasher.Hex();
}

std::string ClusterCredential(net::Sealer& sealer, std::string_view method, std::string_view path,
                              std::string_view body_hash, int64_t now_ms) {
  const std::string sealed =
      sealer.Seal(net::Channel::kApi, Statement(method, path, body_hash), now_ms);
  std::string text(sodium_base64_ENCODED_LEN(sealed.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(sealed.data()),
                    sealed.size(), sodium_base64_VARIANT_ORIGINAL);
  text.resize(text.size() - 1);  // the terminating NUL
  return std::string(kClusterScheme) + text;
}

Status VerifyClusterCredential(net::Sealer& sealer, std::string_view credential,
                               std::string_view method, std::string_view path,
                               std::string_view body_hash, int64_t now_ms) {
  if (credential.size() > 1024)
    return Status::Unauthenticated("the cluster credential is too long");
  std::string sealed(credential.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(sealed.data()), sealed.size(),
                        credential.data(), credential.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Status::Unauthenticated("the cluster credential is not base64");
  }
  sealed.resize(length);
  auto statement = sealer.Open(net::Channel::kApi, sealed, now_ms);
  if (!statement.ok()) {
    return Status::Unauthenticated("the cluster credential does not check out (" +
                                   statement.status().message() + ")");
  }
  if (*statement != Statement(method, path, body_hash)) {
    return Status::Unauthenticated("the cluster credential was made for another request");
  }
  return Status::Ok();
}

}  // namespace starling::auth
