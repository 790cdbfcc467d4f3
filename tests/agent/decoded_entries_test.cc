// DecodedEntries: a state-log entry is decoded once, again only when the key holds another entry.
#include "src/agent/decoded_entries.h"

#include <catch2/catch.hpp>

namespace starling::agent {
namespace {

store::Entry At(const std::string& key, const std::string& value, uint64_t seq,
                bool tombstone = false) {
  return {"node-1/0000000000000001", seq, seq, key, value, tombstone};
}

TEST_CASE("decoded entries: once per entry, forgotten when gone or deleted", "[unit]") {
  int decodes = 0;
  DecodedEntries<int> numbers([&](const std::string& value) -> std::optional<int> {
    ++decodes;
    if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoi(value);
  });
  auto first = numbers.Update({At("a", "1", 1), At("b", "x", 2), At("c", "3", 3)});
  CHECK(decodes == 3);
  REQUIRE(first.size() == 2);  // "x" does not decode: skipped
  CHECK(first[0].first == "a");
  CHECK(*first[0].second == 1);
  CHECK(*first[1].second == 3);

  // The same entries: nothing decoded again. A key written again (a new seq) is.
  auto second = numbers.Update({At("a", "1", 1), At("b", "x", 2), At("c", "30", 4)});
  CHECK(decodes == 4);
  REQUIRE(second.size() == 2);
  CHECK(*second[1].second == 30);

  // A deleted key and a key gone from the scan are forgotten: seen again, decoded again.
  auto third = numbers.Update({At("a", "", 5, /*tombstone=*/true), At("c", "30", 4)});
  CHECK(decodes == 4);
  REQUIRE(third.size() == 1);
  CHECK(third[0].first == "c");
  numbers.Update({At("a", "7", 6), At("b", "x", 2), At("c", "30", 4)});
  CHECK(decodes == 6);  // a's new entry, and b (forgotten at the last update)
}

}  // namespace
}  // namespace starling::agent
