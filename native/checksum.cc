#include "checksum.h"

#include <cstring>

namespace uvs {

uint64_t csum_partial(const uint8_t* p, size_t len, uint64_t seed) {
  uint64_t sum = seed;
  // 32-bit big-endian loads: sums of 16-bit words commute with the grouping, and a 64-bit accumulator
  // cannot overflow for any frame (2^32 additions of < 2^32).
  while (len >= 4) {
    sum += (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    sum += (uint32_t(p[0]) << 8) | p[1];
    p += 2;
    len -= 2;
  }
  if (len) sum += uint32_t(p[0]) << 8;
  return sum;
}

uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

static constexpr uint16_t kEthIPv4 = 0x0800;
static constexpr uint16_t kEthVlan = 0x8100;
static constexpr uint16_t kEthQinQ = 0x88a8;
static constexpr uint8_t kProtoTcp = 6;
static constexpr uint8_t kProtoUdp = 17;

static inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }

PartialResult complete_partial_one(uint8_t* frame, size_t len) {
  size_t off = 12;
  if (len < off + 2) return kPartialTruncated;
  uint16_t type = rd16(frame + off);
  // Up to two VLAN tags (802.1ad outer + 802.1Q inner).
  for (int tags = 0; tags < 2 && (type == kEthVlan || type == kEthQinQ); tags++) {
    off += 4;
    if (len < off + 2) return kPartialTruncated;
    type = rd16(frame + off);
  }
  off += 2;
  if (type != kEthIPv4) return kPartialUnsupported;
  if (len < off + 20) return kPartialTruncated;
  const uint8_t* ip = frame + off;
  if ((ip[0] >> 4) != 4) return kPartialUnsupported;
  size_t ihl = size_t(ip[0] & 0x0f) * 4;
  size_t total = rd16(ip + 2);
  if (ihl < 20 || total < ihl || len < off + total) return kPartialTruncated;
  // A fragment's L4 checksum covers the reassembled datagram; it cannot be completed here.
  if ((rd16(ip + 6) & 0x3fff) != 0) return kPartialUnsupported;
  size_t l4 = off + ihl;
  size_t l4len = total - ihl;
  size_t field;
  if (ip[9] == kProtoTcp) {
    if (l4len < 20) return kPartialTruncated;
    field = 16;
  } else if (ip[9] == kProtoUdp) {
    if (l4len < 8) return kPartialTruncated;
    field = 6;
  } else {
    return kPartialUnsupported;
  }
  uint16_t c = uint16_t(~csum_fold(csum_partial(frame + l4, l4len, 0)));
  // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means "no checksum").
  if (ip[9] == kProtoUdp && c == 0) c = 0xffff;
  frame[l4 + field] = uint8_t(c >> 8);
  frame[l4 + field + 1] = uint8_t(c);
  return kPartialDone;
}

}  // namespace uvs
