#include "src/agent/keys.h"

#include <spdlog/spdlog.h>

#include "base/file.h"
#include "src/auth/api_tls.h"

namespace starling::agent {

nlohmann::json Keys::List() const {
  nlohmann::json keys = nlohmann::json::array();
  const net::Keyring keyring = sealer_->keyring();
  const auto& all = keyring.keys();
  for (size_t i = 0; i < all.size(); ++i) {
    keys.push_back({{"fingerprint", net::Keyring::Fingerprint(all[i])}, {"primary", i == 0}});
  }
  return {{"keys", keys}};
}

Result<Keys::Snapshot> Keys::Change(const std::string& action, const std::string& key_text) {
  auto key = net::Keyring::DecodeKey(key_text);
  if (!key.ok()) return key.status();
  Status status = sealer_->ChangeKeyring([&](net::Keyring& keyring) {
    return action == "install" ? keyring.Install(*key)
           : action == "use"   ? keyring.Use(*key)
           : action == "remove"
               ? keyring.Remove(*key)
               : Status::InvalidArgument("a keyring action is install, use or remove");
  });
  if (!status.ok()) return status;
  spdlog::info("keyring: {} {}", action, net::Keyring::Fingerprint(*key));
  return Snapshot{++generation_, sealer_->keyring().Serialize()};
}

Status Keys::Persist(const Snapshot& snapshot) {
  std::lock_guard lock(persist_mutex_);
  if (snapshot.generation <= persisted_) return Status::Ok();
  if (Status s = WriteFileAtomically(path_, snapshot.text, 0600); !s.ok()) return s;
  // The CAs the CLI on this node trusts follow the keyring (a removed key's CA goes with it).
  auto keyring = net::Keyring::Parse(snapshot.text);
  if (!keyring.ok()) return keyring.status();
  auto bundle = auth::ClusterCaBundle(keyring->keys());
  if (!bundle.ok()) return bundle.status();
  if (Status s = WriteFileAtomically(ca_path_, *bundle, 0644); !s.ok()) return s;
  persisted_ = snapshot.generation;
  return Status::Ok();
}

}  // namespace starling::agent
