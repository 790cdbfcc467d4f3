// src/agent/keys.h — this node's keyring at run time (DESIGN.md §3): the keys the sealer opens
// with, primary first; rotation (install, use, remove) changes them in memory at once and in the
// data dir's keyring file, which wins over the configured key file at the next start.
//
// Threading: List and Change on the io thread (the sealer's); Persist on any other thread (it
// fsyncs).
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "src/net/sealer.h"

namespace starling::agent {

class Keys {
 public:
  // `sealer` must outlive this. `path`: the data dir's keyring file; `ca_path`: where the CAs
  // of its keys are kept for the CLI (api_identity.h).
  Keys(net::Sealer* sealer, std::string path, std::string ca_path)
      : sealer_(sealer), path_(std::move(path)), ca_path_(std::move(ca_path)) {}

  // Fingerprints, primary first (never a key itself).
  nlohmann::json List() const;
  // One rotation step: "install", "use" or "remove" the base64 key. On success, what to persist.
  struct Snapshot {
    uint64_t generation = 0;
    std::string text;
  };
  Result<Snapshot> Change(const std::string& action, const std::string& key_text);
  // Writes `snapshot` to the keyring file, and its keys' CAs to the CA file, unless a newer one
  // was written already.
  Status Persist(const Snapshot& snapshot);

 private:
  net::Sealer* sealer_;
  std::string path_;
  std::string ca_path_;
  uint64_t generation_ = 0;  // io thread
  std::mutex persist_mutex_;
  uint64_t persisted_ = 0;  // guarded by persist_mutex_
};

}  // namespace starling::agent
