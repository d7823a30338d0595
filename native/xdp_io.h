// Batched AF_XDP I/O: one XDP socket (XSK) per interface, fed by a tiny XDP program that redirects every
// frame of the interface's queue into it. One native call receives or sends a whole batch of frames; the
// frames are copied between the socket's UMEM and the FrameBatch slots (src/io/batch.ts), so the datapath
// sees the same layout as with AF_PACKET. No libbpf/libxdp: the XSKMAP, the program and its attachment
// (a bpf_link, so the kernel detaches it when the descriptor closes, also when the process dies) are made
// with the bpf() system call, and the rings with the raw AF_XDP socket options. The JS side is
// src/io/afxdp.ts.
#pragma once
#include <napi.h>

namespace uvs {

// Adds xdpOpen, xdpClose, xdpRecv, xdpSend, xdpFlush and xdpStats to the addon's exports.
void RegisterXdpIo(Napi::Env env, Napi::Object exports);

}  // namespace uvs
