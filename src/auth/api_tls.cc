#include "src/auth/api_tls.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include <array>
#include <memory>

namespace starling::auth {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free>>;
using Time = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreContext = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using Number = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

constexpr std::string_view kCaLabel = "starling api ca v1";
constexpr int64_t kServerValidityS = 398 * 86400;

Status OpenSslError(const std::string& what) {
  char text[256] = "unknown error";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, text, sizeof text);
  }
  ERR_clear_error();
  return Status::IoError(what + ": " + text);
}

bool IsIp(const std::string& text) {
  in_addr v4{};
  in6_addr v6{};
  return ::inet_pton(AF_INET, text.c_str(), &v4) == 1 ||
         ::inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

bool IsDnsName(const std::string& text) {
  if (text.empty() || text.size() > 253) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

// The CA's key: an Ed25519 seed of BLAKE2b keyed with the cluster key over a fixed label.
Pkey CaKey(const net::Key& cluster_key) {
  std::array<uint8_t, 32> seed{};
  crypto_generichash(seed.data(), seed.size(), reinterpret_cast<const uint8_t*>(kCaLabel.data()),
                     kCaLabel.size(), cluster_key.data(), cluster_key.size());
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  sodium_memzero(seed.data(), seed.size());
  return key;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) return false;
  const bool added = X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  return added;
}

bool SetTimes(X509* cert, Time from, Time until) {
  return from && until && X509_set1_notBefore(cert, from.get()) == 1 &&
         X509_set1_notAfter(cert, until.get()) == 1;
}

bool SetName(X509_NAME* name, const std::string& common_name) {
  return X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>("Starling"), -1, -1,
                                    0) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                    -1, 0) == 1;
}

Result<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return OpenSslError("writing a cert");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("writing a key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<Cert> ReadCert(std::string_view pem, const char* what) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return Status::InvalidArgument(std::string(what) + " is not a PEM certificate");
  return cert;
}

// The CA certificate: fixed serial, validity and name, so that every node makes the same one.
Result<Cert> CaCert(const net::Key& cluster_key, EVP_PKEY* ca_key) {
  Cert cert(X509_new());
  if (!cert) return OpenSslError("a new cert");
  Time from(ASN1_TIME_new()), until(ASN1_TIME_new());
  const bool made =
      X509_set_version(cert.get(), 2) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1) == 1 && from && until &&
      ASN1_TIME_set_string(from.get(), "20250101000000Z") == 1 &&
      ASN1_TIME_set_string(until.get(), "99991231235959Z") == 1 &&
      SetTimes(cert.get(), std::move(from), std::move(until)) &&
      SetName(X509_get_subject_name(cert.get()),
              "Starling cluster CA " + net::Keyring::Fingerprint(cluster_key)) &&
      X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1 &&
      X509_set_pubkey(cert.get(), ca_key) == 1 &&
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE") &&
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") &&
      AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash") &&
      X509_sign(cert.get(), ca_key, nullptr) > 0;  // Ed25519: no separate digest
  if (!made) return OpenSslError("making the cluster's CA");
  return cert;
}

}  // namespace

Result<std::string> ClusterCaPem(const net::Key& cluster_key) {
  Pkey ca_key = CaKey(cluster_key);
  if (!ca_key) return OpenSslError("deriving the CA's key");
  auto ca = CaCert(cluster_key, ca_key.get());
  if (!ca.ok()) return ca.status();
  return CertPem(ca->get());
}

Result<ServerCertificate> IssueServerCertificate(const net::Key& cluster_key,
                                                 const std::string& node_name,
                                                 const std::vector<std::string>& names,
                                                 int64_t now_s) {
  std::string alternatives;
  for (const std::string& name : names.empty() ? std::vector<std::string>{node_name} : names) {
    if (IsIp(name)) {
      alternatives += (alternatives.empty() ? "IP:" : ",IP:") + name;
    } else if (IsDnsName(name)) {
      alternatives += (alternatives.empty() ? "DNS:" : ",DNS:") + name;
    } else {
      return Status::InvalidArgument("'" + name + "' is neither an IP address nor a host name");
    }
  }
  Pkey ca_key = CaKey(cluster_key);
  if (!ca_key) return OpenSslError("deriving the CA's key");
  auto ca = CaCert(cluster_key, ca_key.get());
  if (!ca.ok()) return ca.status();
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return OpenSslError("a server key");
  Cert cert(X509_new());
  if (!cert) return OpenSslError("a new cert");
  std::array<uint8_t, 16> serial{};
  randombytes_buf(serial.data(), serial.size());
  serial[0] &= 0x7f;  // positive
  Number number(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  Time from(ASN1_TIME_new()), until(ASN1_TIME_new());
  const bool made =
      number && X509_set_version(cert.get(), 2) == 1 &&
      BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get())) != nullptr && from &&
      until && ASN1_TIME_set(from.get(), static_cast<time_t>(now_s - 3600)) != nullptr &&
      ASN1_TIME_set(until.get(), static_cast<time_t>(now_s + kServerValidityS)) != nullptr &&
      SetTimes(cert.get(), std::move(from), std::move(until)) &&
      SetName(X509_get_subject_name(cert.get()), node_name) &&
      X509_set_issuer_name(cert.get(), X509_get_subject_name(ca->get())) == 1 &&
      X509_set_pubkey(cert.get(), key.get()) == 1 &&
      AddExtension(cert.get(), ca->get(), NID_basic_constraints, "critical,CA:FALSE") &&
      AddExtension(cert.get(), ca->get(), NID_key_usage, "critical,digitalSignature") &&
      AddExtension(cert.get(), ca->get(), NID_ext_key_usage, "serverAuth") &&
      AddExtension(cert.get(), ca->get(), NID_subject_alt_name, alternatives) &&
      AddExtension(cert.get(), ca->get(), NID_subject_key_identifier, "hash") &&
      AddExtension(cert.get(), ca->get(), NID_authority_key_identifier, "keyid:always") &&
      X509_sign(cert.get(), ca_key.get(), nullptr) > 0;
  if (!made) return OpenSslError("issuing " + node_name + "'s certificate");
  ServerCertificate out;
  auto ca_pem = CertPem(ca->get());
  auto cert_pem = CertPem(cert.get());
  auto key_pem = KeyPem(key.get());
  if (!ca_pem.ok()) return ca_pem.status();
  if (!cert_pem.ok()) return cert_pem.status();
  if (!key_pem.ok()) return key_pem.status();
  out.ca_pem = std::move(*ca_pem);
  out.cert_pem = std::move(*cert_pem);
  out.key_pem = std::move(*key_pem);
  return out;
}

Status VerifyServerCertificate(std::string_view ca_pem, std::string_view cert_pem,
                               const std::string& host, int64_t now_s) {
  auto ca = ReadCert(ca_pem, "the CA");
  if (!ca.ok()) return ca.status();
  auto cert = ReadCert(cert_pem, "the server's certificate");
  if (!cert.ok()) return cert.status();
  Store store(X509_STORE_new());
  StoreContext context(X509_STORE_CTX_new());
  if (!store || !context || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), cert->get(), nullptr) != 1) {
    return OpenSslError("setting up a verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now_s));
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  const int named = IsIp(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                               : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (named != 1) return Status::InvalidArgument("'" + host + "' is not a host to check");
  if (X509_verify_cert(context.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return Status::Unauthenticated(std::string("the API's certificate is not to be trusted: ") +
                                   X509_verify_cert_error_string(error));
  }
  return Status::Ok();
}

bool IsCertificateName(const std::string& name) { return IsIp(name) || IsDnsName(name); }

Result<std::string> ClusterCaBundle(const std::vector<net::Key>& cluster_keys) {
  std::string bundle;
  for (const net::Key& key : cluster_keys) {
    auto pem = ClusterCaPem(key);
    if (!pem.ok()) return pem.status();
    bundle += *pem;
  }
  return bundle;
}

}  // namespace starling::auth
