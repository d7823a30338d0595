// Internet checksum (RFC 1071) helpers shared by the addon's entry points.
#pragma once
#include <cstddef>
#include <cstdint>

#include "layout.h"

namespace uvs {

// Unfolded one's-complement sum of big-endian 16-bit words; an odd last byte is padded with zero.
uint64_t csum_partial(const uint8_t* p, size_t len, uint64_t seed);
// Fold a wide sum to 16 bits (end-around carry).
uint16_t csum_fold(uint64_t sum);

// Result codes of complete_partial_one, one per frame (values in layout.h, shared with src/native.ts).
enum PartialResult : uint8_t {
  kPartialDone = kPartialResultDone,                // checksum completed in place
  kPartialSkipped = kPartialResultSkipped,          // frame was not marked as needing completion
  kPartialTruncated = kPartialResultTruncated,      // headers or L4 length run past the frame
  kPartialUnsupported = kPartialResultUnsupported,  // not IPv4 TCP/UDP, or a fragment
};

// Completes a CHECKSUM_PARTIAL frame: the L4 checksum field holds the pseudo-header sum (not inverted),
// as Linux leaves it for TP_STATUS_CSUMNOTREADY / virtio NEEDS_CSUM, and the full checksum is the
// inverted sum over the L4 segment including that field.
PartialResult complete_partial_one(uint8_t* frame, size_t len);

}  // namespace uvs
