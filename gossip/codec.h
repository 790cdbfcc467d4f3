// gossip/codec.h — membership messages to and from bytes. The only gossip file that touches the
// generated Cap'n Proto types. Malformed input of any kind returns a corruption status; the codec
// never throws and never trusts a length it has not checked.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "gossip/messages.h"

namespace starling::gossip {

// Upper bounds the decoders enforce on untrusted input.
inline constexpr size_t kMaxDatagramBytes = 65000;
inline constexpr size_t kMaxItemsPerDatagram = 128;
inline constexpr size_t kMaxPushPullBytes = 32 << 20;
inline constexpr size_t kMaxPushPullMembers = 100000;
inline constexpr size_t kMaxUserEventPayloadBytes = 1024;
inline constexpr size_t kMaxHostBytes = 64;
inline constexpr size_t kMaxMetaTextBytes = 128;
// Copies in one load report: with site names up to 63 bytes a full report stays within one
// default datagram (1400 bytes). A node that runs more reports its busiest (the agent's choice).
inline constexpr size_t kMaxCopyLoads = 16;
// The highest DbReport state (rules::DbState::kSynced).
inline constexpr uint8_t kMaxDbState = 5;
// The highest FilesReport state (rules::FilesState::kStarted).
inline constexpr uint8_t kMaxFilesState = 4;
// Bytes a length prefix adds to each item of a datagram.
inline constexpr size_t kItemPrefixBytes = 2;

// Encodes one message as a packed Cap'n Proto item (without its length prefix).
std::string EncodeMessage(const Message& message);
// Encodes the header item every datagram starts with.
std::string EncodeHeader(const NodeName& sender);
// Appends `item` with its length prefix. REQUIRES: item.size() <= 65535.
void AppendItem(std::string* datagram, std::string_view item);

// Decodes a whole datagram: header first, then messages. Any malformed item rejects all of it.
[[nodiscard]] Result<Datagram> DecodeDatagram(std::string_view bytes);

std::string EncodePushPull(const PushPull& state);
[[nodiscard]] Result<PushPull> DecodePushPull(std::string_view bytes);

}  // namespace starling::gossip
