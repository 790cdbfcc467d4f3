#include "src/sites/release.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

namespace starling::sites {
namespace {

using json = nlohmann::json;

bool IsVersion(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

uint64_t Tag(std::string_view version, uint32_t restart, const Site& site) {
  // SipHash-2-4 (libsodium) under a fixed zero key over "version\0restart\0memory\0pids":
  // fixed, so every node computes the same tag.
  std::string input(version);
  for (const uint32_t n : {restart, site.memory_mb, site.pids}) {
    input.push_back('\0');
    input += std::to_string(n);
  }
  // Its settings and secrets, when it has any (a site without keeps the tag it had before).
  for (const auto* settings : {&site.env, &site.secrets}) {
    if (site.env.empty() && site.secrets.empty()) break;
    input.push_back('\1');
    for (const auto& [name, value] : *settings) {
      input += name;
      input.push_back('=');
      input += value;
      input.push_back('\0');
    }
  }
  // Its persisted paths, when it has any: a copy gets them bound at its start.
  if (!site.persist.empty()) {
    input.push_back('\2');
    for (const auto& path : site.persist) {
      input += path;
      input.push_back('\0');
    }
  }
  unsigned char key[crypto_shorthash_KEYBYTES] = {};
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(input.data()), input.size(), key);
  uint64_t tag = 0;
  std::memcpy(&tag, out, sizeof(tag));
  return tag == 0 ? 1 : tag;
}

std::string Encode(const Release& release) {
  return json{{"version", release.version},
              {"previous", release.previous},
              {"restart", release.restart},
              {"by", release.by},
              {"at_ms", release.at_ms}}
      .dump();
}

Result<Release> DecodeRelease(std::string_view bytes) {
  const json body = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("version") || !body["version"].is_string()) {
    return Status::Corruption("a stored release is not a JSON object with a version");
  }
  Release release;
  release.version = body["version"];
  if (!IsVersion(release.version)) return Status::Corruption("a stored release's version is bad");
  release.previous = body.value("previous", "");
  if (!release.previous.empty() && !IsVersion(release.previous)) {
    return Status::Corruption("a stored release's previous version is bad");
  }
  const json restart = body.value("restart", json(0));
  if (!restart.is_number_unsigned() || restart.get<uint64_t>() > UINT32_MAX) {
    return Status::Corruption("a stored release's restart count is bad");
  }
  release.restart = restart.get<uint32_t>();
  release.by = body.value("by", "");
  release.at_ms = body.value("at_ms", int64_t{0});
  return release;
}

std::optional<Release> InForce(const std::optional<Release>& stored,
                               const std::vector<std::string>& kept_newest_first) {
  if (kept_newest_first.empty()) return std::nullopt;
  auto kept = [&](const std::string& version) {
    return std::find(kept_newest_first.begin(), kept_newest_first.end(), version) !=
           kept_newest_first.end();
  };
  if (stored && kept(stored->version)) {
    Release release = *stored;
    if (!release.previous.empty() && !kept(release.previous)) release.previous.clear();
    return release;
  }
  Release release;
  release.version = kept_newest_first[0];
  if (kept_newest_first.size() > 1) release.previous = kept_newest_first[1];
  return release;
}

std::optional<ReleaseState> Resolve(const std::optional<Release>& stored,
                                    const std::vector<std::string>& kept_newest_first,
                                    const std::optional<RolloutFailure>& failure,
                                    const Site& site) {
  auto release = InForce(stored, kept_newest_first);
  if (!release) return std::nullopt;
  ReleaseState state{.release = *release, .tag = Tag(*release, site)};
  state.stopped = failure.has_value() && failure->tag == state.tag;
  const bool back = state.stopped && !release->previous.empty();
  state.start_version = back ? release->previous : release->version;
  state.start_tag = back ? Tag(release->previous, 0, site) : state.tag;
  return state;
}

std::string Encode(const RolloutFailure& failure) {
  return json{
      {"tag", failure.tag}, {"why", failure.why}, {"node", failure.node}, {"at_ms", failure.at_ms}}
      .dump();
}

Result<RolloutFailure> DecodeRolloutFailure(std::string_view bytes) {
  const json body = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("tag") || !body["tag"].is_number_unsigned()) {
    return Status::Corruption("a stored rollout failure has no tag");
  }
  RolloutFailure failure;
  failure.tag = body["tag"];
  failure.why = body.value("why", "");
  failure.node = body.value("node", "");
  failure.at_ms = body.value("at_ms", int64_t{0});
  return failure;
}

}  // namespace starling::sites
