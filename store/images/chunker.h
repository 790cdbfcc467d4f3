// store/images/chunker.h — content-defined chunking (FastCDC, Xia et al., USENIX ATC 2016).
//
// A gear hash rolls over the bytes; a cut falls where its top bits are zero. Before the average
// size a stricter mask applies, after it a looser one ("normalized chunking"), so sizes cluster
// near the average; nothing is cut before `min_bytes`, and `max_bytes` forces a cut. The cut
// depends only on the last ~64 bytes, so an edit moves at most the chunks around it. Pure: it
// sees bytes, never files. Chunks never span files: the importer chunks each file on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/status.h"

namespace starling::images {

struct ChunkerOptions {
  size_t min_bytes = 16 * 1024;
  size_t avg_bytes = 64 * 1024;  // a power of two
  size_t max_bytes = 256 * 1024;

  // min < avg < max, avg a power of two within 256 B and 16 MiB, max at most 64 MiB.
  Status Validate() const;
};

class Chunker {
 public:
  // REQUIRES: options valid.
  explicit Chunker(const ChunkerOptions& options);

  // The length of the chunk that starts at data[0]. `data` must hold at least max_bytes, unless
  // it is the rest of the file (then the whole of it may become the last chunk).
  size_t NextCut(std::span<const uint8_t> data) const;

  const ChunkerOptions& options() const { return options_; }

 private:
  ChunkerOptions options_;
  uint64_t mask_small_;  // before avg: more bits must be zero
  uint64_t mask_large_;  // after avg: fewer
};

}  // namespace starling::images
