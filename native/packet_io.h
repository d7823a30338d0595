// Batched AF_PACKET I/O: one native call receives or sends a whole batch of frames (recvmmsg or a
// TPACKET_V3 ring on receive, sendmmsg on send),
// and a uv_poll_t tells JS when the socket is readable. The JS side is src/io/afpacket.ts; the slot layout
// the calls assume is src/io/batch.ts.
#pragma once
#include <napi.h>

#include <cstdint>

#include "layout.h"

namespace uvs {

// The per-frame flags packetRecv writes (FrameFlag: kFrameCsumNotReady, ...) are in layout.h.

// Adds packetOpen, packetClose, packetRecv, packetRecvRing, packetRingClose, packetSend, pollStart and
// pollStop to the addon's exports.
void RegisterPacketIo(Napi::Env env, Napi::Object exports);

}  // namespace uvs
