// See gso.h. The rules are tcp_gso_segment()'s and inet_gso_segment()'s: every segment gets the full
// headers, the IPv4 ID increments per segment, the sequence number advances by the payload before it, CWR
// stays on the first segment only and FIN/PSH on the last only, and each checksum is computed whole.
#include "gso.h"

#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "layout.h"

namespace uvs {
namespace {

constexpr uint32_t kEthHeader = 14;
// The TCP flag bits (kTcpFin, kTcpPsh, kTcpCwr) are layout.h's.

}  // namespace

bool PlanGso(const uint8_t* frame, uint32_t len, uint8_t gso_type, uint16_t gso_size, uint32_t room, GsoPlan* plan) {
  if ((gso_type & ~kGsoEcn) != kGsoTcpV4 || gso_size == 0) return false;
  if (len < kEthHeader + 20 + 20 || Rd16(frame + 12) != 0x0800) return false;
  const uint8_t* ip = frame + kEthHeader;
  uint32_t ihl = uint32_t(ip[0] & 15) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 6) return false;
  // A fragment cannot be a TCP super-frame; the kernel never marks one so, but the frame is not trusted.
  if ((Rd16(ip + 6) & 0x3fff) != 0) return false;
  if (kEthHeader + ihl + 20 > len) return false;
  const uint8_t* tcp = ip + ihl;
  uint32_t doff = uint32_t(tcp[12] >> 4) * 4;
  uint32_t headers = kEthHeader + ihl + doff;
  if (doff < 20 || headers >= len || headers + gso_size > room) return false;
  plan->headers = headers;
  plan->ihl = ihl;
  plan->payload = len - headers;
  plan->mss = gso_size;
  plan->count = (plan->payload + gso_size - 1) / gso_size;
  return true;
}

uint32_t WriteGsoSegment(const uint8_t* frame, const GsoPlan& plan, uint32_t index, uint8_t* out) {
  uint32_t start = index * plan.mss;
  uint32_t chunk = plan.payload - start < plan.mss ? plan.payload - start : plan.mss;
  bool last = index + 1 == plan.count;
  memcpy(out, frame, plan.headers);
  memcpy(out + plan.headers, frame + plan.headers + start, chunk);

  uint8_t* ip = out + kEthHeader;
  uint32_t ihl = plan.ihl;
  uint32_t l4 = plan.headers - kEthHeader - ihl + chunk;
  Wr16(ip + 2, uint16_t(ihl + l4));
  Wr16(ip + 4, uint16_t(Rd16(ip + 4) + index));
  Wr16(ip + 10, 0);
  Wr16(ip + 10, uint16_t(~csum_fold(csum_partial(ip, ihl, 0))));

  uint8_t* tcp = ip + ihl;
  Wr32(tcp + 4, Rd32(tcp + 4) + start);
  if (!last) tcp[13] &= uint8_t(~(kTcpFin | kTcpPsh));
  if (index > 0) tcp[13] &= uint8_t(~kTcpCwr);
  Wr16(tcp + 16, 0);
  // Pseudo-header: source and destination address, zero + protocol, TCP length.
  uint64_t sum = csum_partial(ip + 12, 8, 0) + 6 + l4;
  Wr16(tcp + 16, uint16_t(~csum_fold(csum_partial(tcp, l4, sum))));
  return plan.headers + chunk;
}

}  // namespace uvs
