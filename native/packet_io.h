// Batched AF_PACKET I/O: one native call receives or sends a whole batch of frames (recvmmsg or a
// TPACKET_V3 ring on receive, sendmmsg on send),
// and a uv_poll_t tells JS when the socket is readable. The JS side is src/io/afpacket.ts; the slot layout
// the calls assume is src/io/batch.ts.
#pragma once
#include <napi.h>

#include <cstdint>

namespace uvs {

// Per-frame flags written by packetRecv; mirrored as FrameFlag in src/io/batch.ts.
enum FrameFlag : uint8_t {
  kFrameCsumNotReady = 1 << 0,   // arrived CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY)
  kFrameCsumCompleted = 1 << 1,  // ... and its TCP/UDP checksum was completed in place
  kFrameCsumUnfixable = 1 << 2,  // ... but it could not be completed (not IPv4 TCP/UDP, fragment, truncated)
  kFrameCsumValid = 1 << 3,      // the kernel or the NIC already verified the checksum (TP_STATUS_CSUM_VALID)
  kFrameVlan = 1 << 4,           // the kernel had stripped an 802.1Q/802.1ad tag; it was put back in the frame
  kFrameTruncated = 1 << 5,      // the frame was longer than the slot; the tail is lost
  kFrameSegmented = 1 << 6,      // one of the segments uvs cut from a TCP GSO super-frame (native/gso.h)
};

// Adds packetOpen, packetClose, packetRecv, packetRecvRing, packetRingClose, packetSend, pollStart and
// pollStop to the addon's exports.
void RegisterPacketIo(Napi::Env env, Napi::Object exports);

}  // namespace uvs
