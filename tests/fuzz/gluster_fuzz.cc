// libFuzzer target for the gluster CLI's answers (src/files/gluster_xml.h): whatever the CLI
// prints — truncated, garbled, hostile — every parser returns a value or an error. Seeds: real
// answers from tests/fuzz/gluster_seeds. Run: fuzz_gluster -max_total_time=60 corpus/ seeds/
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/files/gluster_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)starling::files::CliOutcome(xml);
  (void)starling::files::ParsePeerStatus(xml);
  (void)starling::files::ParseVolumeInfo(xml);
  (void)starling::files::ParseVolumeStatus(xml);
  (void)starling::files::ParseHealSummary(xml);
  return 0;
}
