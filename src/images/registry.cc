#include "src/images/registry.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "src/sites/site.h"
#include "src/state/keys.h"

namespace starling::images {
namespace {

using json = nlohmann::json;

Result<Hash> FromHex(std::string_view hex) {
  Hash hash{};
  if (hex.size() != 64) return Status::Corruption("a hash is 64 hex digits");
  for (size_t i = 0; i < 32; ++i) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::Corruption("a hash is lower-case hex");
    hash[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return hash;
}

}  // namespace

std::string StackImage(std::string_view stack) {
  return std::string(kStackPrefix) + std::string(stack);
}

bool IsStackImage(std::string_view image) { return image.starts_with(kStackPrefix); }

Status ValidateStackName(std::string_view stack) {
  const bool ok = !stack.empty() && stack.size() <= 32 && stack.front() >= 'a' &&
                  stack.front() <= 'z' && stack.back() != '-' &&
                  std::all_of(stack.begin(), stack.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                  });
  if (!ok) {
    return Status::InvalidArgument("stack name '" + std::string(stack) +
                                   "' must be 1-32 of a-z, 0-9 and '-', starting with a letter");
  }
  return Status::Ok();
}

Status ValidateImageName(std::string_view image) {
  if (IsStackImage(image)) return ValidateStackName(image.substr(kStackPrefix.size()));
  return sites::ValidateName(image);
}

Status ValidateDocroot(std::string_view docroot) {
  if (docroot.size() < 2 || docroot.size() > 255 || docroot.front() != '/' ||
      docroot.back() == '/') {
    return Status::InvalidArgument("a docroot is an absolute path like /var/www/html");
  }
  size_t start = 1;
  while (start <= docroot.size()) {
    const size_t end = std::min(docroot.find('/', start), docroot.size());
    const std::string_view part = docroot.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) {
      return Status::InvalidArgument("docroot '" + std::string(docroot) +
                                     "' must be a plain absolute path (no '.', '..' or '//')");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Status ValidateLayering(const Manifest& manifest) {
  const Layering& layering = manifest.layering;
  if (IsStackImage(manifest.site)) {
    if (!layering.stack.empty()) return Status::InvalidArgument("a stack is not layered on one");
    return ValidateDocroot(layering.docroot);
  }
  if (!layering.docroot.empty()) return Status::InvalidArgument("only a stack has a docroot");
  if (layering.stack.empty()) {
    if (!layering.stack_version.empty()) return Status::InvalidArgument("a version with no stack");
    return Status::Ok();
  }
  if (!IsStackImage(layering.stack)) {
    return Status::InvalidArgument("'" + layering.stack + "' is not a stack's image");
  }
  if (Status s = ValidateImageName(layering.stack); !s.ok()) return s;
  if (!FromHex(layering.stack_version).ok()) {
    return Status::InvalidArgument("a stack version is 64 hex digits");
  }
  return Status::Ok();
}

std::string RecordKey(std::string_view site, std::string_view version) {
  return keys::Image(site, version);
}

std::string SitePrefix(std::string_view site) { return keys::ImagesOf(site); }

Result<ImageRecord> StoreManifest(const Manifest& manifest, const ChunkerOptions& options,
                                  ChunkStore* store) {
  if (Status s = ValidateImageName(manifest.site); !s.ok()) return s;
  if (Status s = Validate(manifest, ManifestRules{.allow_setuid = true}); !s.ok()) return s;
  if (Status s = ValidateLayering(manifest); !s.ok()) return s;
  const std::string encoded = Encode(manifest);
  ImageRecord record;
  record.site = manifest.site;
  record.version = VersionOf(encoded);
  record.command = manifest.command;
  record.env = manifest.env;
  record.stack = manifest.layering.stack;
  record.stack_version = manifest.layering.stack_version;
  record.docroot = manifest.layering.docroot;
  const Chunker chunker(options);
  const auto bytes = std::span(reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size());
  for (size_t at = 0; at < bytes.size();) {
    const size_t cut = chunker.NextCut(bytes.subspan(at));
    const auto chunk = bytes.subspan(at, cut);
    const Hash hash = Sha256(chunk);
    if (auto put = store->Put(hash, chunk); !put.ok()) return put.status();
    record.manifest_chunks.push_back({hash, static_cast<uint32_t>(cut)});
    at += cut;
  }
  for (const FileEntry& file : manifest.files) {
    if (file.kind != FileKind::kRegular) continue;
    ++record.files;
    record.bytes += file.size;
  }
  record.chunks = ContentChunks(manifest).size();
  return record;
}

Result<Manifest> LoadManifest(const ImageRecord& record, ChunkStore* store) {
  std::string encoded;
  for (const ChunkRef& chunk : record.manifest_chunks) {
    auto bytes = store->Get(chunk.hash);
    if (!bytes.ok()) return bytes.status();
    encoded += *bytes;
  }
  if (VersionOf(encoded) != record.version) {
    return Status::Corruption("the manifest does not match version " + record.version);
  }
  auto manifest = Decode(encoded);
  if (!manifest.ok()) return manifest.status();
  if (manifest->site != record.site) {
    return Status::Corruption("version " + record.version + " belongs to another site");
  }
  if (manifest->layering.stack != record.stack ||
      manifest->layering.stack_version != record.stack_version ||
      manifest->layering.docroot != record.docroot) {
    return Status::Corruption("version " + record.version + "'s record names another stack");
  }
  return manifest;
}

std::vector<ChunkRef> ContentChunks(const Manifest& manifest) {
  std::vector<ChunkRef> chunks;
  std::set<Hash> seen;
  for (const FileEntry& file : manifest.files) {
    for (const ChunkRef& chunk : file.chunks) {
      if (seen.insert(chunk.hash).second) chunks.push_back(chunk);
    }
  }
  return chunks;
}

std::string EncodeRecord(const ImageRecord& record) {
  json chunks = json::array();
  for (const ChunkRef& chunk : record.manifest_chunks) {
    chunks.push_back({{"hash", Hex(chunk.hash)}, {"size", chunk.size}});
  }
  json body{{"site", record.site},           {"version", record.version},
            {"manifest_chunks", chunks},     {"files", record.files},
            {"bytes", record.bytes},         {"chunks", record.chunks},
            {"command", record.command},     {"env", record.env},
            {"pushed_ms", record.pushed_ms}, {"pushed_by", record.pushed_by}};
  if (!record.stack.empty()) {
    body["stack"] = record.stack;
    body["stack_version"] = record.stack_version;
  }
  if (!record.docroot.empty()) body["docroot"] = record.docroot;
  return body.dump();
}

Result<ImageRecord> DecodeRecord(std::string_view bytes) {
  const json body = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Status::Corruption("an image record is not a JSON object");
  ImageRecord record;
  try {
    record.site = body.at("site").get<std::string>();
    record.version = body.at("version").get<std::string>();
    if (!FromHex(record.version).ok()) return Status::Corruption("bad image version");
    for (const auto& chunk : body.at("manifest_chunks")) {
      auto hash = FromHex(chunk.at("hash").get<std::string>());
      if (!hash.ok()) return hash.status();
      record.manifest_chunks.push_back({*hash, chunk.at("size").get<uint32_t>()});
    }
    record.files = body.at("files").get<uint64_t>();
    record.bytes = body.at("bytes").get<uint64_t>();
    record.chunks = body.at("chunks").get<uint64_t>();
    record.command = body.at("command").get<std::vector<std::string>>();
    if (body.contains("env")) {  // (records written before it was kept have none)
      record.env = body.at("env").get<std::vector<std::pair<std::string, std::string>>>();
    }
    record.pushed_ms = body.value("pushed_ms", int64_t{0});
    record.pushed_by = body.value("pushed_by", std::string());
    record.stack = body.value("stack", std::string());
    record.stack_version = body.value("stack_version", std::string());
    record.docroot = body.value("docroot", std::string());
    if (!record.stack.empty() &&
        (!IsStackImage(record.stack) || !FromHex(record.stack_version).ok())) {
      return Status::Corruption("an image record names a bad stack");
    }
  } catch (const json::exception& error) {
    return Status::Corruption(std::string("an image record is malformed: ") + error.what());
  }
  return record;
}

}  // namespace starling::images
