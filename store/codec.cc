#include "store/codec.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/exception.h>
#include <kj/io.h>

#include "base/names.h"
#include "schema/store.capnp.h"

namespace starling::store {
namespace {

namespace s = ::starling::schema;

kj::StringPtr Text(const std::string& text) { return kj::StringPtr(text.c_str(), text.size()); }
capnp::Data::Reader Bytes(const std::string& bytes) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size());
}

std::string ToBytes(capnp::MessageBuilder& builder) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, builder);
  auto written = out.getArray();
  return std::string(reinterpret_cast<const char*>(written.begin()), written.size());
}

capnp::ReaderOptions Limits(size_t bytes) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = bytes + 64;  // packed input expands at most 8x: a safe bound
  options.nestingLimit = 8;
  return options;
}

// Raised by the field checks below and caught once per decoder, so every rejection has a reason.
struct DecodeError {
  std::string reason;
};

void SetEntry(s::LogEntry::Builder out, const Entry& in) {
  out.setOrigin(Text(in.origin));
  out.setSeq(in.seq);
  out.setHlc(in.hlc);
  out.setKey(Text(in.key));
  out.setValue(Bytes(in.value));
  out.setTombstone(in.tombstone);
}

Entry GetEntry(s::LogEntry::Reader in) {
  Entry out;
  out.origin.assign(in.getOrigin().cStr(), in.getOrigin().size());
  if (!IsValidOrigin(out.origin)) throw DecodeError{"invalid origin"};
  out.seq = in.getSeq();
  if (out.seq == 0) throw DecodeError{"sequence 0"};
  out.hlc = in.getHlc();
  out.key.assign(in.getKey().cStr(), in.getKey().size());
  if (!IsValidKey(out.key)) throw DecodeError{"invalid key"};
  auto value = in.getValue();
  if (value.size() > kMaxValueBytes) throw DecodeError{"value too large"};
  out.value.assign(reinterpret_cast<const char*>(value.begin()), value.size());
  out.tombstone = in.getTombstone();
  if (out.tombstone && !out.value.empty()) throw DecodeError{"tombstone with a value"};
  return out;
}

void SetDigest(capnp::List<s::OriginHead>::Builder out, const Digest& in) {
  unsigned i = 0;
  for (const auto& [origin, seq] : in) {
    out[i].setOrigin(Text(origin));
    out[i].setSeq(seq);
    ++i;
  }
}

Digest GetDigest(capnp::List<s::OriginHead>::Reader in) {
  if (in.size() > kMaxDigestOrigins) throw DecodeError{"digest too large"};
  Digest out;
  for (auto head : in) {
    std::string origin(head.getOrigin().cStr(), head.getOrigin().size());
    if (!IsValidOrigin(origin)) throw DecodeError{"invalid origin in digest"};
    if (!out.emplace(std::move(origin), head.getSeq()).second) {
      throw DecodeError{"duplicate origin in digest"};
    }
  }
  return out;
}

}  // namespace

bool IsValidOrigin(std::string_view origin) {
  const size_t slash = origin.rfind('/');
  if (slash == std::string_view::npos || origin.size() > kMaxOriginBytes) return false;
  if (!IsValidName(origin.substr(0, slash))) return false;
  const std::string_view id = origin.substr(slash + 1);
  if (id.size() != 16) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string EncodeExchange(const Exchange& in) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<s::LogExchange>();
  root.setProtocolVersion(kLogProtocolVersion);
  root.setSender(Text(in.sender));
  SetDigest(root.initDigest(static_cast<unsigned>(in.digest.size())), in.digest);
  auto entries = root.initEntries(static_cast<unsigned>(in.entries.size()));
  for (unsigned i = 0; i < in.entries.size(); ++i) SetEntry(entries[i], in.entries[i]);
  root.setMore(in.more);
  root.setBusy(in.busy);
  root.setSnapshot(in.snapshot);
  root.setSnapshotCursor(Text(in.snapshot_cursor));
  root.setSnapshotDone(in.snapshot_done);
  SetDigest(root.initSnapshotDigest(static_cast<unsigned>(in.snapshot_digest.size())),
            in.snapshot_digest);
  root.setWantSnapshot(in.want_snapshot);
  return ToBytes(builder);
}

Result<Exchange> DecodeExchange(std::string_view bytes) {
  if (bytes.empty()) return Status::Corruption("empty log exchange");
  if (bytes.size() > kMaxExchangeBytes) return Status::Corruption("log exchange too large");
  Exchange out;
  try {
    kj::ArrayInputStream input(
        kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
    capnp::PackedMessageReader reader(input, Limits(bytes.size()));
    auto root = reader.getRoot<s::LogExchange>();
    if (root.getProtocolVersion() != kLogProtocolVersion) {
      throw DecodeError{"unsupported log protocol version " +
                        std::to_string(root.getProtocolVersion())};
    }
    out.sender.assign(root.getSender().cStr(), root.getSender().size());
    if (!IsValidName(out.sender)) throw DecodeError{"invalid sender"};
    out.digest = GetDigest(root.getDigest());
    auto entries = root.getEntries();
    if (entries.size() > kMaxExchangeEntries) throw DecodeError{"too many entries"};
    out.entries.reserve(entries.size());
    for (auto entry : entries) out.entries.push_back(GetEntry(entry));
    out.more = root.getMore();
    out.busy = root.getBusy();
    out.snapshot = root.getSnapshot();
    out.snapshot_cursor.assign(root.getSnapshotCursor().cStr(), root.getSnapshotCursor().size());
    if (!out.snapshot_cursor.empty() && !IsValidKey(out.snapshot_cursor)) {
      throw DecodeError{"invalid snapshot cursor"};
    }
    out.snapshot_done = root.getSnapshotDone();
    out.snapshot_digest = GetDigest(root.getSnapshotDigest());
    out.want_snapshot = root.getWantSnapshot();
  } catch (const DecodeError& error) {
    return Status::Corruption(error.reason);
  } catch (const kj::Exception& error) {
    return Status::Corruption(std::string("malformed log exchange: ") +
                              error.getDescription().cStr());
  }
  return out;
}

std::string EncodeEntry(const Entry& entry) {
  capnp::MallocMessageBuilder builder;
  SetEntry(builder.initRoot<s::LogEntry>(), entry);
  return ToBytes(builder);
}

Result<Entry> DecodeEntry(std::string_view bytes) {
  if (bytes.empty()) return Status::Corruption("empty entry");
  Entry entry;
  try {
    // Not returned from inside the reader's scope: its destructor may throw.
    kj::ArrayInputStream input(
        kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
    capnp::PackedMessageReader reader(input, Limits(bytes.size()));
    entry = GetEntry(reader.getRoot<s::LogEntry>());
  } catch (const DecodeError& error) {
    return Status::Corruption("stored entry: " + error.reason);
  } catch (const kj::Exception& error) {
    return Status::Corruption(std::string("malformed stored entry: ") +
                              error.getDescription().cStr());
  }
  return entry;
}

}  // namespace starling::store
