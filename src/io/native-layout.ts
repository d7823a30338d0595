// The values the batch I/O calls of the addon (native/packet_io.cc, native/xdp_io.cc, native/gso.cc) share
// with this folder, as native/layout.h exports them: the per-frame flags and packet types a receive writes,
// the batch limit, the result slots of a send, and the TCP flags a receive edits when it cuts a GSO
// super-frame. AF_PACKET and AF_XDP ports pass `packetIoLayout` to loadNative, which refuses an addon that
// disagrees.
import { layoutEntries, type NativeLayoutExpectation } from '../native.js';
import { TcpFlag } from '../wire/tcp.js';
import { FrameFlag, MAX_BATCH, PacketType } from './batch.js';

/** Slots of the `result` array packetSend and xdpSend fill. */
export const SendResult = {
  sent: 0,
  dropped: 1,
  /** The last errno a frame was dropped with, or 0. */
  errno: 2,
  /** Of the dropped, those lost to a full send buffer, device queue or send ring. */
  queueFull: 3,
  /** xdpSend: sockets whose tx ring still holds frames a full device refused. */
  pending: 4,
} as const;

/** A port's send counters (PacketPort's txDropped and the rest), as countSend() keeps them. */
export interface SendCounts {
  txDropped: number;
  txDroppedQueueFull: number;
  lastSendErrno: number;
}

/**
 * Counts one packetSend()/xdpSend() of `count` frames into `port`: a negative result (an unusable batch) lost
 * them all; otherwise the result slots say how many were dropped, how many of those to a full queue, and why.
 */
export function countSend(port: SendCounts, sent: number, count: number, r: Int32Array): void {
  if (sent < 0) {
    port.txDropped += count;
    return;
  }
  port.txDropped += r[SendResult.dropped]!;
  port.txDroppedQueueFull += r[SendResult.queueFull]!;
  if (r[SendResult.errno] !== 0) port.lastSendErrno = r[SendResult.errno]!;
}

/** What a receive writes into a FrameBatch (src/io/batch.ts). */
export const batchLayoutValues: Readonly<Record<string, number>> = {
  ...layoutEntries('FrameFlag', FrameFlag),
  ...layoutEntries('PacketType', PacketType),
  MAX_BATCH,
};

export const packetIoLayout: NativeLayoutExpectation = {
  owner: 'src/io (FrameBatch flags and packet types, MAX_BATCH, SendResult, the TCP flags GSO cutting edits)',
  values: {
    ...batchLayoutValues,
    ...layoutEntries('SendResult', SendResult),
    // native/gso.cc keeps FIN and PSH on a super-frame's last segment only, CWR on its first only.
    'TcpFlag.fin': TcpFlag.fin,
    'TcpFlag.psh': TcpFlag.psh,
    'TcpFlag.cwr': TcpFlag.cwr,
  },
};
