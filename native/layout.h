// Every value the native code shares with the TypeScript side: layouts of the tables and batches C reads and
// writes, codes, flag bits, the control block of the fast path and the result slots of the send calls.
//
// The list below is the only place native/ defines them, and native/layout.cc exports every entry as the
// addon's `layout` object: a value cannot be added here without being exported. The TypeScript owners of
// the same values (src/conn/table.ts, src/datapath/neighbours.ts, src/io/batch.ts, ...) compare it with
// their own when they load the addon (src/native.ts checkNativeLayout) and refuse a build that disagrees,
// naming each value that differs. docs/design.md (the native boundary) says why a check at load rather than
// a header generated from TypeScript.
#pragma once
#include <cstdint>

namespace uvs {

// X(C name, exported key, value). Keys are the TypeScript owner and member (ConnFlag.template, ...).
#define UVS_LAYOUT(X)                                                                                       \
  /* The connection record (src/conn/table.ts ConnRecord): 8 32-bit words per slot. */                     \
  X(kRecWords, "ConnRecord.words", 8)                                                                       \
  X(kRecCaddr, "ConnRecord.caddr", 0)                                                                       \
  X(kRecVaddr, "ConnRecord.vaddr", 1)                                                                       \
  X(kRecDaddr, "ConnRecord.daddr", 2)                                                                       \
  X(kRecPorts, "ConnRecord.ports", 3)                                                                       \
  X(kRecDportProtoFlags, "ConnRecord.dportProtoFlags", 4)                                                   \
  X(kRecNext, "ConnRecord.next", 5)                                                                         \
  X(kRecExpires, "ConnRecord.expires", 6)                                                                   \
  /* ConnFlag (src/conn/table.ts). */                                                                       \
  X(kFlagTemplate, "ConnFlag.template", 0x02)                                                               \
  X(kFlagNoOutput, "ConnFlag.noOutput", 0x04)                                                               \
  /* Fwd (src/dest/dest.ts). */                                                                             \
  X(kFwdMasq, "Fwd.masq", 0)                                                                                \
  X(kFwdTunnel, "Fwd.tunnel", 2)                                                                            \
  X(kFwdRoute, "Fwd.route", 3)                                                                              \
  /* TcpFlag (src/wire/tcp.ts), TcpDir and the state table (src/conn/tcp-state.ts). */                     \
  X(kTcpFin, "TcpFlag.fin", 0x01)                                                                           \
  X(kTcpSyn, "TcpFlag.syn", 0x02)                                                                           \
  X(kTcpRst, "TcpFlag.rst", 0x04)                                                                           \
  X(kTcpPsh, "TcpFlag.psh", 0x08)                                                                           \
  X(kTcpAck, "TcpFlag.ack", 0x10)                                                                           \
  X(kTcpCwr, "TcpFlag.cwr", 0x80)                                                                           \
  X(kDirInput, "TcpDir.input", 0)                                                                           \
  X(kDirOutput, "TcpDir.output", 1)                                                                         \
  X(kDirInputOnly, "TcpDir.inputOnly", 2)                                                                   \
  X(kStateClose, "TcpState.close", 6)                                                                       \
  X(kTcpStateCount, "TCP_STATE_COUNT", 11)                                                                  \
  /* NeighState (src/datapath/neighbours.ts): the two the fast path resolves through. */                    \
  X(kNeighReachable, "NeighState.reachable", 2)                                                             \
  X(kNeighStatic, "NeighState.static", 3)                                                                   \
  /* FrameFlag and PacketType (src/io/batch.ts), written by the receive calls. */                          \
  X(kFrameCsumNotReady, "FrameFlag.csumNotReady", 1 << 0)                                                   \
  X(kFrameCsumCompleted, "FrameFlag.csumCompleted", 1 << 1)                                                 \
  X(kFrameCsumUnfixable, "FrameFlag.csumUnfixable", 1 << 2)                                                 \
  X(kFrameCsumValid, "FrameFlag.csumValid", 1 << 3)                                                         \
  X(kFrameVlan, "FrameFlag.vlan", 1 << 4)                                                                   \
  X(kFrameTruncated, "FrameFlag.truncated", 1 << 5)                                                         \
  X(kFrameSegmented, "FrameFlag.segmented", 1 << 6)                                                         \
  X(kPacketHost, "PacketType.host", 0)                                                                      \
  X(kPacketBroadcast, "PacketType.broadcast", 1)                                                            \
  X(kPacketMulticast, "PacketType.multicast", 2)                                                            \
  X(kPacketOtherHost, "PacketType.otherHost", 3)                                                            \
  X(kPacketOutgoing, "PacketType.outgoing", 4)                                                              \
  /* Per-frame codes of completePartial (src/native.ts PartialResult; native/checksum.h). */                 \
  X(kPartialResultDone, "PartialResult.done", 0)                                                            \
  X(kPartialResultSkipped, "PartialResult.skipped", 1)                                                      \
  X(kPartialResultTruncated, "PartialResult.truncated", 2)                                                  \
  X(kPartialResultUnsupported, "PartialResult.unsupported", 3)                                              \
  /* The most frames one call moves (src/io/batch.ts MAX_BATCH). */                                        \
  X(kMaxBatch, "MAX_BATCH", 1024)                                                                           \
  /* Result slots of packetSend and xdpSend (src/io/afpacket.ts SendResult). */                            \
  X(kSendSent, "SendResult.sent", 0)                                                                        \
  X(kSendDropped, "SendResult.dropped", 1)                                                                  \
  X(kSendErrno, "SendResult.errno", 2)                                                                      \
  X(kSendQueueFull, "SendResult.queueFull", 3)                                                              \
  X(kSendPending, "SendResult.pending", 4)                                                                  \
  /* The fast path's control block (src/datapath/fastpath.ts Ctl): Float64Array slots. */                  \
  X(kCtlRx, "Ctl.rx", 0)                                                                                    \
  X(kCtlTx, "Ctl.tx", 1)                                                                                    \
  X(kCtlStart, "Ctl.start", 2)                                                                              \
  X(kCtlRxCount, "Ctl.rxCount", 3)                                                                          \
  X(kCtlNow, "Ctl.now", 4)                                                                                  \
  X(kCtlSecureTcp, "Ctl.secureTcp", 5)                                                                      \
  X(kCtlTicksPerSecond, "Ctl.ticksPerSecond", 6)                                                            \
  X(kCtlIpId, "Ctl.ipId", 7)                                                                                \
  X(kCtlHandled, "Ctl.handled", 8)                                                                          \
  X(kCtlForwardedIn, "Ctl.forwardedIn", 9)                                                                  \
  X(kCtlForwardedOut, "Ctl.forwardedOut", 10)                                                               \
  X(kCtlTouched, "Ctl.touched", 11)                                                                         \
  X(kCtlTxCount, "Ctl.txCount", 12)                                                                         \
  X(kCtlUdpTimeout, "Ctl.udpTimeout", 13)                                                                   \
  X(kCtlSize, "Ctl.size", 14)

#define UVS_LAYOUT_DEFINE(name, key, value) constexpr uint32_t name = value;
UVS_LAYOUT(UVS_LAYOUT_DEFINE)
#undef UVS_LAYOUT_DEFINE

// The connection table's bucket hash (src/conn/table.ts connHash): murmur3-style mixing with a secret seed,
// before the bucket mask. Exported as layoutConnHash so that the load check compares results, not constants.
inline uint32_t ConnHash(uint32_t seed, uint32_t proto, uint32_t caddr, uint32_t cport) {
  uint32_t h = (caddr ^ seed) * 0xcc9e2d51u;
  h = (h << 15) | (h >> 17);
  h = (h * 0x1b873593u) ^ ((cport << 8) | proto);
  h = ((h << 13) | (h >> 19)) * 5u + 0xe6546b64u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Home position of an address in the open-addressed neighbour and VIP indexes (src/datapath/neighbours.ts,
// the datapath's VIP set). Exported as layoutAddrHash.
inline uint32_t AddrHash(uint32_t key, uint32_t mask) { return ((key * 0x9e3779b1u) >> 16) & mask; }

}  // namespace uvs
