#include "gossip/codec.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <cmath>

#include "schema/gossip.capnp.h"

namespace starling::gossip {
namespace {

namespace s = ::starling::schema;

kj::StringPtr Text(const std::string& text) { return kj::StringPtr(text.c_str(), text.size()); }

std::string ToBytes(capnp::MessageBuilder& builder) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, builder);
  auto written = out.getArray();
  return std::string(reinterpret_cast<const char*>(written.begin()), written.size());
}

void SetAddress(s::Address::Builder out, const Address& in) {
  out.setHost(Text(in.host));
  out.setPort(in.port);
}

void SetMeta(s::NodeMeta::Builder out, const NodeMeta& in) {
  out.setRole(static_cast<s::Role>(in.role));
  out.setCapacity(in.capacity);
  out.setApiAddress(Text(in.api_address));
  out.setVersion(Text(in.version));
  out.setDatabase(in.database);
  out.setStorage(in.storage);
}

void SetLoad(s::Load::Builder out, const Load& in) {
  out.setName(Text(in.name));
  auto report = out.initReport();
  report.setVersion(in.report.version);
  report.setLoad1(in.report.load1);
  report.setCpuCount(in.report.cpu_count);
  report.setFreeSlots(in.report.free_slots);
  report.setBalancerGeneration(in.report.balancer_generation);
  const size_t copies = std::min(in.report.copies.size(), kMaxCopyLoads);
  auto list = report.initCopies(static_cast<unsigned>(copies));
  for (size_t i = 0; i < copies; ++i) {
    list[static_cast<unsigned>(i)].setSite(Text(in.report.copies[i].site));
    list[static_cast<unsigned>(i)].setLoad1(in.report.copies[i].load1);
    list[static_cast<unsigned>(i)].setServing(in.report.copies[i].serving);
    list[static_cast<unsigned>(i)].setPort(in.report.copies[i].port);
    list[static_cast<unsigned>(i)].setDraining(in.report.copies[i].draining);
    list[static_cast<unsigned>(i)].setRelease(in.report.copies[i].release);
  }
  if (in.report.database.state != 0) {
    auto db = report.initDatabase();
    db.setState(in.report.database.state);
    db.setUuid(Text(in.report.database.uuid));
    db.setSeqno(in.report.database.seqno);
    db.setGaleraAddress(Text(in.report.database.galera_address));
    db.setClientAddress(Text(in.report.database.client_address));
    db.setClusterSize(in.report.database.cluster_size);
  }
  if (in.report.files.state != 0) {
    auto files = report.initFiles();
    files.setState(in.report.files.state);
    files.setInVolume(in.report.files.in_volume);
    files.setBrickUp(in.report.files.brick_up);
    files.setHealPending(in.report.files.heal_pending);
  }
}

// Decoding helpers raise DecodeError, caught once at the top of each decoder, so that every
// rejection carries a precise reason without threading statuses through each field.
struct DecodeError {
  std::string reason;
};

std::string Name(capnp::Text::Reader text, const char* field) {
  std::string value(text.cStr(), text.size());
  if (!IsValidName(value)) throw DecodeError{std::string("invalid ") + field};
  return value;
}

std::string BoundedText(capnp::Text::Reader text, size_t limit, const char* field) {
  if (text.size() > limit) throw DecodeError{std::string(field) + " too long"};
  return std::string(text.cStr(), text.size());
}

Address GetAddress(s::Address::Reader in) {
  Address out;
  out.host = BoundedText(in.getHost(), kMaxHostBytes, "host");
  if (out.host.empty()) throw DecodeError{"empty host"};
  out.port = in.getPort();
  if (out.port == 0) throw DecodeError{"port 0"};
  return out;
}

NodeMeta GetMeta(s::NodeMeta::Reader in) {
  NodeMeta out;
  const auto role = static_cast<uint16_t>(in.getRole());
  if (role > static_cast<uint16_t>(Role::kBoth)) throw DecodeError{"unknown role"};
  out.role = static_cast<Role>(role);
  out.capacity = in.getCapacity();
  out.api_address = BoundedText(in.getApiAddress(), kMaxMetaTextBytes, "api address");
  out.version = BoundedText(in.getVersion(), kMaxMetaTextBytes, "version");
  out.database = in.getDatabase();
  out.storage = in.getStorage();
  return out;
}

Load GetLoad(s::Load::Reader in) {
  Load out;
  out.name = Name(in.getName(), "load name");
  auto report = in.getReport();
  out.report.version = report.getVersion();
  out.report.load1 = report.getLoad1();
  if (!std::isfinite(out.report.load1) || out.report.load1 < 0) throw DecodeError{"bad load"};
  out.report.cpu_count = report.getCpuCount();
  out.report.free_slots = report.getFreeSlots();
  out.report.balancer_generation = report.getBalancerGeneration();
  const auto copies = report.getCopies();
  if (copies.size() > kMaxCopyLoads) throw DecodeError{"too many copies in a load report"};
  for (const auto copy : copies) {
    CopyLoad load;
    load.site = BoundedText(copy.getSite(), kMaxMetaTextBytes, "copy site");
    load.load1 = copy.getLoad1();
    if (!std::isfinite(load.load1) || load.load1 < 0) throw DecodeError{"bad copy load"};
    load.serving = copy.getServing();
    load.port = copy.getPort();
    load.draining = copy.getDraining();
    load.release = copy.getRelease();
    out.report.copies.push_back(std::move(load));
  }
  if (report.hasDatabase()) {
    const auto db = report.getDatabase();
    if (db.getState() > kMaxDbState) throw DecodeError{"unknown database state"};
    out.report.database.state = db.getState();
    out.report.database.uuid = BoundedText(db.getUuid(), kMaxMetaTextBytes, "database uuid");
    out.report.database.seqno = db.getSeqno();
    if (out.report.database.seqno < -1) throw DecodeError{"bad database seqno"};
    out.report.database.galera_address =
        BoundedText(db.getGaleraAddress(), kMaxMetaTextBytes, "galera address");
    out.report.database.client_address =
        BoundedText(db.getClientAddress(), kMaxMetaTextBytes, "database address");
    out.report.database.cluster_size = db.getClusterSize();
  }
  if (report.hasFiles()) {
    const auto files = report.getFiles();
    if (files.getState() > kMaxFilesState) throw DecodeError{"unknown files state"};
    out.report.files.state = files.getState();
    out.report.files.in_volume = files.getInVolume();
    out.report.files.brick_up = files.getBrickUp();
    out.report.files.heal_pending = files.getHealPending();
  }
  return out;
}

Message GetMessage(s::GossipMessage::Reader in) {
  switch (in.which()) {
    case s::GossipMessage::PING: {
      auto m = in.getPing();
      return Ping{m.getSeq(), Name(m.getTarget(), "target"), Name(m.getSource(), "source"),
                  GetAddress(m.getSourceAddress())};
    }
    case s::GossipMessage::INDIRECT_PING: {
      auto m = in.getIndirectPing();
      return IndirectPing{m.getSeq(),
                          Name(m.getTarget(), "target"),
                          GetAddress(m.getTargetAddress()),
                          Name(m.getSource(), "source"),
                          GetAddress(m.getSourceAddress()),
                          m.getWantNack()};
    }
    case s::GossipMessage::ACK:
      return Ack{in.getAck().getSeq()};
    case s::GossipMessage::NACK:
      return Nack{in.getNack().getSeq()};
    case s::GossipMessage::ALIVE: {
      auto m = in.getAlive();
      return Alive{m.getIncarnation(), Name(m.getName(), "name"), GetAddress(m.getAddress()),
                   GetMeta(m.getMeta())};
    }
    case s::GossipMessage::SUSPECT: {
      auto m = in.getSuspect();
      return Suspect{m.getIncarnation(), Name(m.getName(), "name"), Name(m.getFrom(), "from")};
    }
    case s::GossipMessage::DEAD: {
      auto m = in.getDead();
      return Dead{m.getIncarnation(), Name(m.getName(), "name"), Name(m.getFrom(), "from")};
    }
    case s::GossipMessage::LOAD:
      return GetLoad(in.getLoad());
    case s::GossipMessage::USER_EVENT: {
      auto m = in.getUserEvent();
      auto payload = m.getPayload();
      if (payload.size() > kMaxUserEventPayloadBytes) throw DecodeError{"event payload too long"};
      return UserEvent{Name(m.getOrigin(), "event origin"), m.getLamportTime(),
                       Name(m.getName(), "event name"),
                       std::string(reinterpret_cast<const char*>(payload.begin()), payload.size())};
    }
    case s::GossipMessage::HEADER:
      throw DecodeError{"header in message position"};
  }
  throw DecodeError{"unknown message type"};
}

capnp::ReaderOptions Limits(size_t bytes) {
  capnp::ReaderOptions options;
  // Packed bytes expand at most 8x less a tag byte; a generous bound that still stops
  // amplification attacks.
  options.traversalLimitInWords = bytes + 64;
  options.nestingLimit = 8;
  return options;
}

}  // namespace

std::string EncodeMessage(const Message& message) {
  capnp::MallocMessageBuilder builder(64);
  auto root = builder.initRoot<s::GossipMessage>();
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping>) {
          auto out = root.initPing();
          out.setSeq(m.seq);
          out.setTarget(Text(m.target));
          out.setSource(Text(m.source));
          SetAddress(out.initSourceAddress(), m.source_address);
        } else if constexpr (std::is_same_v<T, IndirectPing>) {
          auto out = root.initIndirectPing();
          out.setSeq(m.seq);
          out.setTarget(Text(m.target));
          SetAddress(out.initTargetAddress(), m.target_address);
          out.setSource(Text(m.source));
          SetAddress(out.initSourceAddress(), m.source_address);
          out.setWantNack(m.want_nack);
        } else if constexpr (std::is_same_v<T, Ack>) {
          root.initAck().setSeq(m.seq);
        } else if constexpr (std::is_same_v<T, Nack>) {
          root.initNack().setSeq(m.seq);
        } else if constexpr (std::is_same_v<T, Alive>) {
          auto out = root.initAlive();
          out.setIncarnation(m.incarnation);
          out.setName(Text(m.name));
          SetAddress(out.initAddress(), m.address);
          SetMeta(out.initMeta(), m.meta);
        } else if constexpr (std::is_same_v<T, Suspect>) {
          auto out = root.initSuspect();
          out.setIncarnation(m.incarnation);
          out.setName(Text(m.name));
          out.setFrom(Text(m.from));
        } else if constexpr (std::is_same_v<T, Dead>) {
          auto out = root.initDead();
          out.setIncarnation(m.incarnation);
          out.setName(Text(m.name));
          out.setFrom(Text(m.from));
        } else if constexpr (std::is_same_v<T, Load>) {
          SetLoad(root.initLoad(), m);
        } else if constexpr (std::is_same_v<T, UserEvent>) {
          auto out = root.initUserEvent();
          out.setOrigin(Text(m.origin));
          out.setLamportTime(m.lamport_time);
          out.setName(Text(m.name));
          out.setPayload(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(m.payload.data()),
                                             m.payload.size()));
        }
      },
      message);
  return ToBytes(builder);
}

std::string EncodeHeader(const NodeName& sender) {
  capnp::MallocMessageBuilder builder(16);
  auto header = builder.initRoot<s::GossipMessage>().initHeader();
  header.setProtocolVersion(kProtocolVersion);
  header.setSender(Text(sender));
  return ToBytes(builder);
}

void AppendItem(std::string* datagram, std::string_view item) {
  STARLING_CHECK(item.size() <= 0xffff);
  datagram->push_back(static_cast<char>(item.size() & 0xff));
  datagram->push_back(static_cast<char>(item.size() >> 8));
  datagram->append(item);
}

Result<Datagram> DecodeDatagram(std::string_view bytes) {
  if (bytes.size() > kMaxDatagramBytes) return Status::Corruption("datagram too large");
  Datagram datagram;
  size_t offset = 0;
  size_t items = 0;
  try {
    while (offset < bytes.size()) {
      if (bytes.size() - offset < kItemPrefixBytes) throw DecodeError{"truncated item length"};
      const size_t length = static_cast<uint8_t>(bytes[offset]) |
                            (static_cast<size_t>(static_cast<uint8_t>(bytes[offset + 1])) << 8);
      offset += kItemPrefixBytes;
      if (length == 0 || length > bytes.size() - offset) throw DecodeError{"truncated item"};
      if (++items > kMaxItemsPerDatagram) throw DecodeError{"too many items"};
      kj::ArrayInputStream input(
          kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data() + offset), length));
      capnp::PackedMessageReader reader(input, Limits(length));
      auto root = reader.getRoot<s::GossipMessage>();
      offset += length;
      if (items == 1) {
        if (root.which() != s::GossipMessage::HEADER) throw DecodeError{"missing header"};
        auto header = root.getHeader();
        datagram.protocol_version = header.getProtocolVersion();
        if (datagram.protocol_version != kProtocolVersion) {
          throw DecodeError{"unsupported protocol version " +
                            std::to_string(datagram.protocol_version)};
        }
        datagram.sender = Name(header.getSender(), "sender");
        continue;
      }
      datagram.messages.push_back(GetMessage(root));
    }
    if (items == 0) throw DecodeError{"empty datagram"};
  } catch (const DecodeError& error) {
    return Status::Corruption(error.reason);
  } catch (const kj::Exception& error) {
    return Status::Corruption(std::string("malformed message: ") + error.getDescription().cStr());
  }
  return datagram;
}

std::string EncodePushPull(const PushPull& state) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<s::PushPull>();
  root.setProtocolVersion(state.protocol_version);
  root.setSender(Text(state.sender));
  root.setJoin(state.join);
  auto members = root.initMembers(static_cast<unsigned>(state.members.size()));
  for (size_t i = 0; i < state.members.size(); ++i) {
    const auto& in = state.members[i];
    auto out = members[static_cast<unsigned>(i)];
    out.setName(Text(in.name));
    SetAddress(out.initAddress(), in.address);
    SetMeta(out.initMeta(), in.meta);
    out.setIncarnation(in.incarnation);
    out.setStatus(static_cast<s::MemberStatus>(in.status));
  }
  auto loads = root.initLoads(static_cast<unsigned>(state.loads.size()));
  for (size_t i = 0; i < state.loads.size(); ++i) {
    SetLoad(loads[static_cast<unsigned>(i)], state.loads[i]);
  }
  return ToBytes(builder);
}

Result<PushPull> DecodePushPull(std::string_view bytes) {
  if (bytes.empty()) return Status::Corruption("empty push-pull");
  if (bytes.size() > kMaxPushPullBytes) return Status::Corruption("push-pull too large");
  PushPull state;
  try {
    kj::ArrayInputStream input(
        kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
    capnp::PackedMessageReader reader(input, Limits(bytes.size()));
    auto root = reader.getRoot<s::PushPull>();
    state.protocol_version = root.getProtocolVersion();
    if (state.protocol_version != kProtocolVersion) {
      throw DecodeError{"unsupported protocol version " + std::to_string(state.protocol_version)};
    }
    state.sender = Name(root.getSender(), "sender");
    state.join = root.getJoin();
    auto members = root.getMembers();
    if (members.size() > kMaxPushPullMembers) throw DecodeError{"too many members"};
    state.members.reserve(members.size());
    for (auto in : members) {
      MemberEntry out;
      out.name = Name(in.getName(), "member name");
      out.address = GetAddress(in.getAddress());
      out.meta = GetMeta(in.getMeta());
      out.incarnation = in.getIncarnation();
      const auto status = static_cast<uint16_t>(in.getStatus());
      if (status > static_cast<uint16_t>(MemberStatus::kLeft)) throw DecodeError{"bad status"};
      out.status = static_cast<MemberStatus>(status);
      state.members.push_back(std::move(out));
    }
    auto loads = root.getLoads();
    if (loads.size() > kMaxPushPullMembers) throw DecodeError{"too many loads"};
    for (auto in : loads) state.loads.push_back(GetLoad(in));
  } catch (const DecodeError& error) {
    return Status::Corruption(error.reason);
  } catch (const kj::Exception& error) {
    return Status::Corruption(std::string("malformed push-pull: ") + error.getDescription().cStr());
  }
  return state;
}

}  // namespace starling::gossip
