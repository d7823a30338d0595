// Software segmentation of TCP/IPv4 GSO super-frames, the ones a packet socket hands over whole: up to 64 KB
// of one flow in one frame, from a same-host sender with TSO/GSO on (a veth peer) or from GRO. uvs forwards
// frame for frame, so such a frame is cut into the segments the wire would have carried before the datapath
// sees it, each with full IPv4 and TCP checksums, as the kernel's own tcp_gso_segment() cuts it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvs {

// struct virtio_net_hdr of <linux/virtio_net.h>, which C++ cannot include (a member there is named
// `class`): what PACKET_VNET_HDR puts before every frame, in host byte order.
struct VnetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHeader) == 10, "virtio_net_hdr is 10 bytes");

constexpr uint8_t kGsoNone = 0;      // VIRTIO_NET_HDR_GSO_NONE
constexpr uint8_t kGsoTcpV4 = 1;     // VIRTIO_NET_HDR_GSO_TCPV4
constexpr uint8_t kGsoEcn = 0x80;    // VIRTIO_NET_HDR_GSO_ECN: a flag on the type

// What the kernel says of a frame in its virtio_net_hdr (PACKET_VNET_HDR), and how uvs will cut it.
struct GsoPlan {
  uint32_t headers;  // Ethernet + IPv4 + TCP header bytes, repeated in every segment
  uint32_t ihl;      // IPv4 header bytes (it starts right after the 14-byte Ethernet header)
  uint32_t payload;  // TCP payload bytes of the whole frame
  uint16_t mss;      // payload bytes per segment (the last may be shorter)
  uint32_t count;    // segments
};

// Plans the segmentation of `frame` (len bytes, from its Ethernet header) that the kernel marked with gso
// type `gso_type` and size `gso_size`. False when uvs cannot cut it: not TCP over IPv4 right after an
// untagged Ethernet header, inconsistent headers, or a segment that would not fit in `room` bytes.
bool PlanGso(const uint8_t* frame, uint32_t len, uint8_t gso_type, uint16_t gso_size, uint32_t room, GsoPlan* plan);

// Writes segment `index` (< plan.count) of `frame` to `out` and returns its length (at most room):
// headers copied, IPv4 total length, identification (+index) and checksum set, TCP sequence advanced,
// FIN and PSH only on the last segment and CWR only on the first, TCP checksum computed over the segment.
uint32_t WriteGsoSegment(const uint8_t* frame, const GsoPlan& plan, uint32_t index, uint8_t* out);

}  // namespace uvs
