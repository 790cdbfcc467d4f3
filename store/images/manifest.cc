#include "store/images/manifest.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <map>

#include "schema/image.capnp.h"
#include "store/images/paths.h"

namespace starling::images {
namespace {

namespace s = ::starling::schema;

kj::StringPtr Text(const std::string& text) { return kj::StringPtr(text.c_str(), text.size()); }
capnp::Data::Reader Bytes(const std::string& bytes) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size());
}
std::string String(capnp::Text::Reader text) { return std::string(text.cStr(), text.size()); }
std::string String(capnp::Data::Reader data) {
  return std::string(reinterpret_cast<const char*>(data.begin()), data.size());
}

std::string_view Parent(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

}  // namespace

Status Validate(const Manifest& manifest, const ManifestRules& rules) {
  std::map<std::string_view, FileKind> seen;
  const std::string* previous = nullptr;
  for (const FileEntry& file : manifest.files) {
    if (Status s = ValidateImagePath(file.path); !s.ok()) return s;
    if (previous != nullptr && !(*previous < file.path)) {
      return Status::InvalidArgument("manifest paths are not sorted and unique at '" + file.path +
                                     "'");
    }
    previous = &file.path;
    const std::string_view parent = Parent(file.path);
    if (!parent.empty()) {
      auto it = seen.find(parent);
      if (it == seen.end() || it->second != FileKind::kDirectory) {
        return Status::InvalidArgument("'" + file.path + "' has no parent directory in the image");
      }
    }
    if (file.mode > 07777) {
      return Status::InvalidArgument("'" + file.path + "' has mode bits beyond 07777");
    }
    for (const auto& [name, value] : file.xattrs) {
      if (!IsImageXattr(name)) {
        return Status::InvalidArgument("'" + file.path + "' carries the xattr '" + name +
                                       "': an image keeps user.* only");
      }
    }
    if ((file.mode & 06000) != 0 && !rules.allow_setuid) {
      return Status::InvalidArgument("'" + file.path +
                                     "' is setuid or setgid (allow it explicitly to import)");
    }
    switch (file.kind) {
      case FileKind::kRegular: {
        if (file.size > kMaxFileBytes) {
          return Status::InvalidArgument("'" + file.path + "' is absurdly large");
        }
        uint64_t total = 0;
        for (const ChunkRef& chunk : file.chunks) {
          if (chunk.size == 0) return Status::InvalidArgument("empty chunk in '" + file.path + "'");
          total += chunk.size;
        }
        if (total != file.size) {
          return Status::InvalidArgument("the chunks of '" + file.path +
                                         "' do not add up to its size");
        }
        break;
      }
      case FileKind::kDirectory:
      case FileKind::kSymlink:
        if (!file.chunks.empty() || file.size != 0) {
          return Status::InvalidArgument("'" + file.path +
                                         "' is not a regular file but has content");
        }
        if (file.kind == FileKind::kSymlink) {
          if (Status s = ValidateLinkTarget(file.path, file.target); !s.ok()) return s;
        }
        break;
      case FileKind::kHardlink: {
        auto it = seen.find(file.target);
        if (it == seen.end() || it->second != FileKind::kRegular) {
          return Status::InvalidArgument("hard link '" + file.path + "' -> '" + file.target +
                                         "' does not name an earlier regular file");
        }
        break;
      }
    }
    seen.emplace(file.path, file.kind);
  }
  return Status::Ok();
}

std::string Encode(const Manifest& in) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<s::Manifest>();
  root.setFormatVersion(kManifestFormat);
  root.setSite(Text(in.site));
  root.setStack(Text(in.layering.stack));
  root.setStackVersion(Text(in.layering.stack_version));
  root.setDocroot(Text(in.layering.docroot));
  auto command = root.initCommand(static_cast<unsigned>(in.command.size()));
  for (unsigned i = 0; i < in.command.size(); ++i) command.set(i, Text(in.command[i]));
  auto env = root.initEnv(static_cast<unsigned>(in.env.size()));
  for (unsigned i = 0; i < in.env.size(); ++i) {
    env[i].setName(Text(in.env[i].first));
    env[i].setValue(Text(in.env[i].second));
  }
  auto files = root.initFiles(static_cast<unsigned>(in.files.size()));
  for (unsigned i = 0; i < in.files.size(); ++i) {
    const FileEntry& f = in.files[i];
    auto out = files[i];
    out.setPath(Text(f.path));
    out.setKind(static_cast<s::FileKind>(f.kind));
    out.setMode(f.mode);
    out.setUid(f.uid);
    out.setGid(f.gid);
    out.setMtimeNs(f.mtime_ns);
    out.setSize(f.size);
    auto chunks = out.initChunks(static_cast<unsigned>(f.chunks.size()));
    for (unsigned c = 0; c < f.chunks.size(); ++c) {
      chunks[c].setHash(capnp::Data::Reader(f.chunks[c].hash.data(), f.chunks[c].hash.size()));
      chunks[c].setSize(f.chunks[c].size);
    }
    out.setTarget(Text(f.target));
    auto xattrs = out.initXattrs(static_cast<unsigned>(f.xattrs.size()));
    for (unsigned x = 0; x < f.xattrs.size(); ++x) {
      xattrs[x].setName(Text(f.xattrs[x].first));
      xattrs[x].setValue(Bytes(f.xattrs[x].second));
    }
  }
  kj::VectorOutputStream stream;
  capnp::writePackedMessage(stream, builder);
  auto written = stream.getArray();
  return std::string(reinterpret_cast<const char*>(written.begin()), written.size());
}

namespace {

// The manifest at `root` into `out`; the reader stays the caller's.
Status ReadManifest(s::Manifest::Reader root, Manifest* out) {
  if (root.getFormatVersion() != kManifestFormat) {
    return Status::Corruption("unsupported manifest format " +
                              std::to_string(root.getFormatVersion()));
  }
  out->site = String(root.getSite());
  out->layering = {String(root.getStack()), String(root.getStackVersion()),
                   String(root.getDocroot())};
  for (auto arg : root.getCommand()) out->command.push_back(String(arg));
  for (auto var : root.getEnv())
    out->env.emplace_back(String(var.getName()), String(var.getValue()));
  out->files.reserve(root.getFiles().size());
  for (auto in : root.getFiles()) {
    FileEntry f;
    f.path = String(in.getPath());
    const auto kind = static_cast<uint16_t>(in.getKind());
    if (kind > static_cast<uint16_t>(FileKind::kHardlink)) {
      return Status::Corruption("unknown file kind at '" + f.path + "'");
    }
    f.kind = static_cast<FileKind>(kind);
    f.mode = in.getMode();
    f.uid = in.getUid();
    f.gid = in.getGid();
    f.mtime_ns = in.getMtimeNs();
    f.size = in.getSize();
    for (auto chunk : in.getChunks()) {
      if (chunk.getHash().size() != 32) return Status::Corruption("chunk hash of the wrong size");
      ChunkRef ref;
      std::copy(chunk.getHash().begin(), chunk.getHash().end(), ref.hash.begin());
      ref.size = chunk.getSize();
      f.chunks.push_back(ref);
    }
    f.target = String(in.getTarget());
    for (auto x : in.getXattrs()) f.xattrs.emplace_back(String(x.getName()), String(x.getValue()));
    out->files.push_back(std::move(f));
  }
  return Status::Ok();
}

}  // namespace

Result<Manifest> Decode(std::string_view bytes) {
  if (bytes.empty() || bytes.size() > kMaxManifestBytes) {
    return Status::Corruption("manifest size out of bounds");
  }
  Manifest out;
  // Nothing is returned from inside the reader's scope: its destructor may throw (a truncated
  // stream), and a value already built for the return would then be lost.
  Status read = Status::Ok();
  try {
    kj::ArrayInputStream input(
        kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
    capnp::ReaderOptions options;
    options.traversalLimitInWords = bytes.size() + 64;
    options.nestingLimit = 8;
    capnp::PackedMessageReader reader(input, options);
    read = ReadManifest(reader.getRoot<s::Manifest>(), &out);
  } catch (const kj::Exception& error) {
    return Status::Corruption(std::string("malformed manifest: ") + error.getDescription().cStr());
  }
  if (!read.ok()) return read;
  if (Status s = Validate(out, ManifestRules{.allow_setuid = true}); !s.ok()) {
    return Status::Corruption("invalid manifest: " + s.message());
  }
  return out;
}

std::string VersionOf(std::string_view encoded) { return Hex(Sha256(encoded)); }

}  // namespace starling::images
